/*
 * A join's worktree: the dependencies after the first are merged into it (the first is where the
 * worktree starts). A merge that conflicts is not the user's problem first but the agent's: it is
 * left in progress (MERGE_HEAD, files with conflict markers), the agent's prompt says so
 * (prompts/conflict.ts), and after the agent exits 0 `unresolvedMerge` says what it left undone.
 *
 * Clean merges go first: a conflicting one is aborted and tried again after the others, so that the
 * agent usually has one merge to finish. When several conflict, the first is handed over and the
 * rest are listed in the prompt for the agent to merge once it has committed.
 *
 * What the daemon accepts after the agent: every dependency's commit in HEAD (or in MERGE_HEAD, a
 * merge the daemon then commits), no conflict marker line in any file that conflicted, and no path
 * left unmerged except text files the agent cleared of markers (the daemon stages those, as it
 * commits everything an agent leaves: an agent run with --agent-user cannot write the index).
 */
import fs from "node:fs";
import path from "node:path";
import { unresolvedMergeError, type DependencyCommit, type MergeConflict } from "../prompts/conflict";
import { filesWithConflictMarkers, git, GitError, isAncestor, mergeHead, unmergedPaths } from "./git";

/** A merge handed to the agent, with what the check needs afterwards. */
export type MergeHandover = {
  conflict: MergeConflict;
  /** Every dependency commit the branch must hold in the end. */
  dependencies: DependencyCommit[];
  /** The conflicted files that held markers at the handover: text the agent resolves by editing. */
  textFiles: string[];
};

const mergeMessage = (d: DependencyCommit) => `Merge "${d.name}" (${d.commit.slice(0, 10)})`;

/** Merges one commit; true when clean, false when it conflicted (merge in progress). Other failures throw. */
async function mergeOne(dir: string, d: DependencyCommit): Promise<boolean> {
  const merged = await git(dir, ["merge", "--no-edit", "--quiet", "-m", mergeMessage(d), d.commit], { allowFail: true });
  if (merged.code === 0) return true;
  if (await mergeHead(dir)) return false;
  throw new GitError(`Could not merge dependency "${d.name}" (${d.commit.slice(0, 10)}) into the worktree: ${merged.stderr || `git merge exited with status ${merged.code}`}`, merged.stderr);
}

/**
 * Merges `others` into the worktree at `dir` (which holds the first dependency). Returns null when
 * every merge was clean, else the merge left in progress for the agent.
 */
export async function mergeDependencies(dir: string, first: DependencyCommit | null, others: DependencyCommit[]): Promise<MergeHandover | null> {
  const deferred: DependencyCommit[] = [];
  for (const d of others) {
    if (await mergeOne(dir, d)) continue;
    await git(dir, ["merge", "--abort"]);
    deferred.push(d);
  }
  for (const [i, d] of deferred.entries()) {
    if (await mergeOne(dir, d)) continue; // clean now, after the others
    const files = await unmergedPaths(dir);
    return {
      conflict: { dependency: d, files, pending: deferred.slice(i + 1) },
      dependencies: [...(first ? [first] : []), ...others],
      textFiles: filesWithConflictMarkers(dir, files),
    };
  }
  return null;
}

/** After the agent exited 0: why the attempt fails (the user's text), or null when the merge was finished or is ready to commit. */
export async function unresolvedMerge(dir: string, handover: MergeHandover): Promise<string | null> {
  const unmerged = await unmergedPaths(dir);
  const markers = filesWithConflictMarkers(dir, [...new Set([...handover.conflict.files, ...unmerged])].sort());
  const edited = new Set(handover.textFiles);
  const stillUnmerged = unmerged.filter((f) => !markers.includes(f) && !edited.has(f));
  const head = (await git(dir, ["rev-parse", "HEAD"])).stdout;
  const merging = await mergeHead(dir);
  const missing: DependencyCommit[] = [];
  for (const d of handover.dependencies) {
    if (await isAncestor(dir, d.commit, head)) continue;
    if (merging && (await isAncestor(dir, d.commit, merging))) continue;
    missing.push(d);
  }
  return unresolvedMergeError({ markers, unmerged: stillUnmerged, missing });
}

/**
 * The title of the merge in progress, for the commit that concludes it: the first line of the message
 * git prepared (ours: `Merge "name" (commit)`). Null when no merge is in progress.
 */
export async function pendingMergeTitle(dir: string): Promise<string | null> {
  const merging = await mergeHead(dir);
  if (!merging) return null;
  const file = path.resolve(dir, (await git(dir, ["rev-parse", "--git-path", "MERGE_MSG"])).stdout);
  let title = "";
  try {
    title = fs.readFileSync(file, "utf8").split("\n")[0]!.trim();
  } catch {
    title = "";
  }
  return title || `Merge ${merging.slice(0, 10)}`;
}
