/*
 * A join whose dependencies conflict: the words for the agent and for the user. Pure.
 *
 * The server builds the execution prompt (execution.ts) before anyone knows the merge will conflict;
 * only the daemon that merges the dependencies into the new worktree finds out. So the daemon puts
 * this section in front of the prompt it received, and, when the agent exits 0 without finishing the
 * merge, fails the attempt with unresolvedMergeError's text (which the next attempt's prompt quotes).
 */

/** A dependency's accepted commit, by step name. */
export type DependencyCommit = { name: string; commit: string };

export type MergeConflict = {
  /** The dependency whose merge is in progress in the worktree. */
  dependency: DependencyCommit;
  /** The paths that conflicted, sorted. */
  files: string[];
  /** Dependencies not merged yet: the agent merges them once this merge is committed. */
  pending: DependencyCommit[];
};

/** What the agent left undone, found after it exited 0. */
export type UnresolvedMerge = {
  /** Files that still hold conflict marker lines. */
  markers: string[];
  /** Paths git still holds as unmerged although they hold no markers (binary files, or deleted on one side). */
  unmerged: string[];
  /** Dependencies whose commit is neither in the branch nor being merged (an aborted merge, a reset). */
  missing: DependencyCommit[];
};

const short = (commit: string) => commit.slice(0, 10);
const named = (d: DependencyCommit) => `"${d.name}" (commit ${short(d.commit)})`;

/**
 * The sentences that differ between a join and an integration (prompts/integration.ts): how the
 * merge came about, and what to do once it is concluded.
 */
export type ConflictWords = { why: string; before: string; then: string };

export const JOIN_CONFLICT_WORDS: ConflictWords = {
  why: "Your step depends on several steps, so the daemon merged their branches into your worktree.",
  before: "Before your step's own work:",
  then: "Then carry out your step, described below.",
};

export function buildConflictSection(conflict: MergeConflict, words: ConflictWords = JOIN_CONFLICT_WORDS): string {
  const files = conflict.files.length > 0 ? conflict.files.map((f) => `- ${f}`) : ["- (git named none: run `git status`)"];
  const pending =
    conflict.pending.length > 0
      ? [
          `3. Your worktree does not hold these dependencies yet, because the merge above stopped first. Merge each one (after the commit of step 2), resolving any conflict the same way:`,
          ...conflict.pending.map((d) => `   git merge ${d.commit}   # ${d.name}`),
        ]
      : [];
  return [
    `# First: resolve a merge conflict`,
    `${words.why} Merging ${named(conflict.dependency)} conflicted, and the merge is still in progress (\`git status\` shows it). The conflicted files:`,
    ...files,
    ``,
    words.before,
    `1. Resolve each file: keep what both sides meant (\`git diff\` and \`git log --merge -p\` show the two sides), and remove every conflict marker line (\`<<<<<<<\`, \`=======\`, \`>>>>>>>\`).`,
    `2. Conclude the merge: \`git add\` the files, then \`git commit --no-edit\`. ${conflict.pending.length > 0 ? "Commit before the next merge." : "If you leave the merge uncommitted, the daemon commits it when you exit 0, provided no markers are left."} A conflicted file without markers (a binary file, or one deleted on one side) must be marked resolved with \`git add\` or \`git rm\`.`,
    ...pending,
    ``,
    `Do not abort the merge (\`git merge --abort\`) or reset it away. Exiting 0 with conflict markers left, with the merge unfinished, or without a dependency's commit in your branch fails this attempt.`,
    words.then,
    ``,
    `---`,
    ``,
    ``,
  ].join("\n");
}

/** The prompt the agent gets: the conflict section, then the server's prompt unchanged. */
export function withConflictSection(prompt: string, conflict: MergeConflict, words: ConflictWords = JOIN_CONFLICT_WORDS): string {
  return `${buildConflictSection(conflict, words)}${prompt}`;
}

/** The reason an attempt fails when its agent exited 0 leaving the merge unresolved; null when nothing is left. */
export function unresolvedMergeError(left: UnresolvedMerge): string | null {
  const parts: string[] = [];
  if (left.markers.length > 0) parts.push(`left conflict markers in ${left.markers.join(", ")}`);
  if (left.unmerged.length > 0) parts.push(`left the merge unfinished: ${left.unmerged.join(", ")} still unmerged (mark each resolved with git add or git rm)`);
  if (left.missing.length > 0) parts.push(`did not merge ${left.missing.map(named).join(", ")} into its branch (an aborted merge or a reset drops a dependency's work)`);
  if (parts.length === 0) return null;
  return `The agent exited 0 but ${parts.join("; ")}. Resolve every conflict, remove the markers and conclude the merge (git add, git commit) before exiting 0.`;
}
