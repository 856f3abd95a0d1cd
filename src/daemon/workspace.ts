/*
 * Task workspaces. A directive with a repository gets one clone per repository under the work dir;
 * each execution task gets a git worktree on a branch of its own (one per attempt: branch.ts), started
 * from the base branch (no dependencies), from its dependency's final commit (one), or from the first
 * dependency with the others merged in (several; a merge that conflicts is left in progress for the
 * agent to resolve: merge.ts). The dependency commits are the ones the server recorded for each
 * dependency's accepted attempt. After the agent exits 0, a merge it left unresolved fails the
 * attempt; what it left uncommitted is committed (concluding a resolved merge) and, if the fence
 * allows (lease.ts), the attempt's branch is pushed back to the repository without --force, so other
 * daemons and dependents can use it and no attempt can overwrite another's. The worktree is then
 * removed (branches are kept). A planning task gets a detached checkout of the base branch. Without a
 * repository, a task gets an empty directory.
 *
 * An integration task gets a detached checkout of the base branch into which every sink's commit is
 * merged (the same merge as a join's, conflicts handed to the agent). Its result is pushed to the
 * directive's result branch, replacing what the previous integration put there, but only if the branch
 * still points where this clone last fetched it (--force-with-lease): a push someone else made
 * meanwhile is never overwritten; the attempt fails instead, and its retry fetches again.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { MergeConflict } from "../prompts/conflict";
import { taskBranch } from "./branch";
import { git, GitError, withRepoLock } from "./git";
import { mergeDependencies, pendingMergeTitle, unresolvedMerge, type MergeHandover } from "./merge";

export type Dependency = { step_id: string; name: string; status: string; branch: string | null; commit_sha: string | null };
export type WorkspaceInfo = {
  repo: string | null;
  base_branch: string;
  directive_title: string;
  step_name: string | null;
  /** For an integration: the sinks to merge. */
  dependencies: Dependency[];
  /** For an integration: the branch its result is pushed to. */
  result_branch?: string | null;
};
export type TaskRef = { id: string; kind: "planning" | "execution" | "integration"; directiveId: string; stepId: string | null };

export class WorkspaceError extends Error {}

export type Workspace = {
  dir: string;
  branch: string | null;
  /** The merge of a dependency that conflicted and is left in progress for the agent, else null. */
  conflict: MergeConflict | null;
  /** After the agent exited 0: why the attempt fails because a conflicted merge is unresolved, else null. */
  unresolvedConflict(): Promise<string | null>;
  /**
   * After a successful run: commit leftovers, then (once `mayPublish` resolves; it throws to forbid)
   * push the attempt's branch, and return the final commit (null without a repository).
   */
  finish(message: string, mayPublish: () => Promise<void>): Promise<{ branch: string | null; commit: string | null }>;
  /** finish's first half: commit what the agent left (concluding a resolved merge); returns the commit. */
  commit(message: string): Promise<string | null>;
  /** finish's second half, after commit (and a passed check): push the committed work once `mayPublish` allows. */
  publish(mayPublish: () => Promise<void>): Promise<{ branch: string | null; commit: string | null }>;
  /** Deletes the pushed branch again if it still points at the pushed commit (the server refused the attempt). */
  unpublish(): Promise<void>;
  /** Remove the worktree or directory (the branch stays). */
  dispose(): Promise<void>;
};

/** Where a task's worktree (or plain directory) lives. */
export function taskWorkDir(workDir: string, taskId: string): string {
  return path.join(workDir, "worktrees", taskId);
}

/** The repository clones under a work dir. */
export function clonesIn(workDir: string): string[] {
  const repos = path.join(workDir, "repos");
  if (!fs.existsSync(repos)) return [];
  return fs
    .readdirSync(repos)
    .map((name) => path.join(repos, name))
    .filter((dir) => fs.existsSync(path.join(dir, ".git")));
}

function repoDir(workDir: string, repo: string): string {
  const name = path.basename(repo.replace(/\.git$/, "").replace(/\/+$/, "")).replace(/[^A-Za-z0-9._-]/g, "_") || "repo";
  return path.join(workDir, "repos", `${name}-${createHash("sha1").update(repo).digest("hex").slice(0, 10)}`);
}

async function ensureClone(workDir: string, repo: string): Promise<string> {
  const dir = repoDir(workDir, repo);
  if (!fs.existsSync(path.join(dir, ".git"))) {
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    fs.rmSync(dir, { recursive: true, force: true });
    try {
      await git(path.dirname(dir), ["clone", "--no-checkout", "--quiet", repo, dir]);
    } catch (err) {
      throw new WorkspaceError(`Could not clone ${repo}: ${(err as GitError).stderr?.trim() || (err as Error).message}`);
    }
  }
  await git(dir, ["fetch", "--quiet", "--prune", "origin"]);
  await git(dir, ["worktree", "prune"]);
  return dir;
}

async function resolveBase(dir: string, base: string, repo: string): Promise<string> {
  const ref = `refs/remotes/origin/${base}`;
  const { code, stdout } = await git(dir, ["rev-parse", "--verify", "--quiet", ref], { allowFail: true });
  if (code !== 0 || !stdout) throw new WorkspaceError(`The base branch "${base}" does not exist in ${repo}; create it or set the directive's --base-branch.`);
  return stdout;
}

async function hasCommit(dir: string, sha: string): Promise<boolean> {
  const { code } = await git(dir, ["cat-file", "-e", `${sha}^{commit}`], { allowFail: true });
  return code === 0;
}

/**
 * A dependency's commit, fetched if the clone lacks it: the fetch at clone time brings every branch,
 * but the dependency may have been pushed just after it, so fetch the branch the server recorded.
 */
async function ensureCommit(dir: string, d: { branch: string | null; commit_sha: string }): Promise<boolean> {
  if (await hasCommit(dir, d.commit_sha)) return true;
  if (d.branch) await git(dir, ["fetch", "--quiet", "origin", `+refs/heads/${d.branch}:refs/remotes/origin/${d.branch}`], { allowFail: true });
  return hasCommit(dir, d.commit_sha);
}

export async function prepareWorkspace(workDir: string, task: TaskRef, info: WorkspaceInfo): Promise<Workspace> {
  const taskDir = taskWorkDir(workDir, task.id);
  if (task.kind === "integration" && !info.repo) throw new WorkspaceError("An integration needs the directive's repository, and this directive has none.");
  if (!info.repo) {
    fs.rmSync(taskDir, { recursive: true, force: true });
    fs.mkdirSync(taskDir, { recursive: true });
    return {
      dir: taskDir,
      branch: null,
      conflict: null,
      unresolvedConflict: async () => null,
      finish: async () => ({ branch: null, commit: null }),
      commit: async () => null,
      publish: async () => ({ branch: null, commit: null }),
      unpublish: async () => undefined,
      dispose: async () => fs.rmSync(taskDir, { recursive: true, force: true }),
    };
  }
  const repo = info.repo;
  const clone = await withRepoLock(repoDir(workDir, repo), () => ensureClone(workDir, repo));
  const integration = task.kind === "integration";
  if (integration && !info.result_branch) throw new WorkspaceError("The integration task names no result branch; upgrade the server.");
  const branch = integration
    ? info.result_branch!
    : task.kind === "execution" && task.stepId
      ? taskBranch(task.directiveId, task.stepId, info.step_name ?? "step", task.id)
      : null;
  // An integration's push lease: where the result branch was when this clone last fetched ("" = absent).
  let leaseExpect = "";
  await withRepoLock(clone, async () => {
    await git(clone, ["worktree", "remove", "--force", taskDir], { allowFail: true });
    fs.rmSync(taskDir, { recursive: true, force: true });
    const base = await resolveBase(clone, info.base_branch, repo);
    if (!branch) {
      await git(clone, ["worktree", "add", "--detach", "--quiet", taskDir, base]);
      return;
    }
    const commits = info.dependencies.filter((d) => d.commit_sha).map((d) => ({ ...d, commit_sha: d.commit_sha! }));
    for (const d of commits) {
      if (!(await ensureCommit(clone, d))) {
        throw new WorkspaceError(`The commit ${d.commit_sha} of ${integration ? "step" : "dependency"} "${d.name}" is not in ${repo}; it was not pushed there by the daemon that made it.`);
      }
    }
    if (integration) {
      leaseExpect = (await git(clone, ["rev-parse", "--verify", "--quiet", `refs/remotes/origin/${branch}`], { allowFail: true })).stdout;
      await git(clone, ["worktree", "add", "--detach", "--quiet", taskDir, base]);
      return;
    }
    const start = commits[0]?.commit_sha ?? base;
    await git(clone, ["worktree", "add", "--quiet", "-B", branch, taskDir, start]);
  });
  // Several dependencies: merge the others into the first (outside the repository lock: only this
  // worktree is touched). An integration merges every sink into the base.
  let handover: MergeHandover | null = null;
  if (branch) {
    const sources = info.dependencies.filter((d) => d.commit_sha).map((d) => ({ name: d.name, commit: d.commit_sha! }));
    const [first, others] = integration ? [null, sources] : [sources[0] ?? null, sources.slice(1)];
    try {
      handover = await mergeDependencies(taskDir, first, others);
    } catch (err) {
      await withRepoLock(clone, () => git(clone, ["worktree", "remove", "--force", taskDir], { allowFail: true }));
      throw new WorkspaceError((err as Error).message);
    }
  }
  let pushed: string | null = null;
  let committed: string | null = null;
  const ws: Workspace = {
    dir: taskDir,
    branch,
    conflict: handover?.conflict ?? null,
    unresolvedConflict: async () => (handover ? unresolvedMerge(taskDir, handover) : null),
    async finish(message: string, mayPublish: () => Promise<void>) {
      await ws.commit(message);
      return ws.publish(mayPublish);
    },
    async commit(message: string) {
      if (!branch) return null;
      await git(taskDir, ["add", "-A"]);
      // A merge the agent resolved but did not commit is concluded here (even with no change left to commit).
      const merge = await pendingMergeTitle(taskDir);
      const status = await git(taskDir, ["status", "--porcelain"]);
      if (merge) await git(taskDir, ["commit", "--quiet", "--no-verify", "-m", `${merge}, conflicts resolved by the agent\n\n${message}`]);
      else if (status.stdout) await git(taskDir, ["commit", "--quiet", "--no-verify", "-m", message]);
      committed = (await git(taskDir, ["rev-parse", "HEAD"])).stdout;
      return committed;
    },
    async publish(mayPublish: () => Promise<void>) {
      if (!branch || !committed) return { branch: null, commit: null };
      const commit = committed;
      await mayPublish();
      if (integration) {
        // The result replaces the previous one, unless someone pushed to the branch since this clone fetched it.
        await withRepoLock(clone, () => git(clone, ["push", "--quiet", `--force-with-lease=refs/heads/${branch}:${leaseExpect}`, "origin", `${commit}:refs/heads/${branch}`]));
        return { branch, commit };
      }
      // No --force: the branch is this attempt's own, and a push never rewrites what is there.
      await withRepoLock(clone, () => git(clone, ["push", "--quiet", "origin", `${commit}:refs/heads/${branch}`]));
      pushed = commit;
      return { branch, commit };
    },
    async unpublish() {
      if (!branch || !pushed) return;
      const expected = pushed;
      await withRepoLock(clone, () => git(clone, ["push", "--quiet", `--force-with-lease=refs/heads/${branch}:${expected}`, "origin", `:refs/heads/${branch}`], { allowFail: true }));
      pushed = null;
    },
    async dispose() {
      await withRepoLock(clone, () => git(clone, ["worktree", "remove", "--force", taskDir], { allowFail: true }));
      fs.rmSync(taskDir, { recursive: true, force: true });
    },
  };
  return ws;
}
