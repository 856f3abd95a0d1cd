/*
 * The conflict hand-off's words (src/prompts/conflict.ts): the section the daemon puts in front of a
 * join's prompt, and the reason an attempt fails when its agent exits 0 leaving the merge unresolved.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildConflictSection, unresolvedMergeError, withConflictSection, type MergeConflict } from "../../src/prompts/conflict";

const conflict: MergeConflict = {
  dependency: { name: "Paint it blue", commit: "0123456789abcdef0123456789abcdef01234567" },
  files: ["a.txt", "src/b.ts"],
  pending: [],
};

describe("the conflict section", () => {
  it("is exactly this text for one conflicted merge", () => {
    assert.equal(
      buildConflictSection(conflict),
      `# First: resolve a merge conflict
Your step depends on several steps, so the daemon merged their branches into your worktree. Merging "Paint it blue" (commit 0123456789) conflicted, and the merge is still in progress (\`git status\` shows it). The conflicted files:
- a.txt
- src/b.ts

Before your step's own work:
1. Resolve each file: keep what both sides meant (\`git diff\` and \`git log --merge -p\` show the two sides), and remove every conflict marker line (\`<<<<<<<\`, \`=======\`, \`>>>>>>>\`).
2. Conclude the merge: \`git add\` the files, then \`git commit --no-edit\`. If you leave the merge uncommitted, the daemon commits it when you exit 0, provided no markers are left. A conflicted file without markers (a binary file, or one deleted on one side) must be marked resolved with \`git add\` or \`git rm\`.

Do not abort the merge (\`git merge --abort\`) or reset it away. Exiting 0 with conflict markers left, with the merge unfinished, or without a dependency's commit in your branch fails this attempt.
Then carry out your step, described below.

---

`,
    );
  });

  it("lists the dependencies still to merge, with their commits, when several conflicted", () => {
    const text = buildConflictSection({ ...conflict, pending: [{ name: "Paint it green", commit: "fedcba9876543210fedcba9876543210fedcba98" }] });
    assert.match(text, /^2\. Conclude the merge: `git add` the files, then `git commit --no-edit`\. Commit before the next merge\. /m);
    assert.ok(text.includes("\n3. Your worktree does not hold these dependencies yet, because the merge above stopped first. Merge each one (after the commit of step 2), resolving any conflict the same way:\n   git merge fedcba9876543210fedcba9876543210fedcba98   # Paint it green\n"));
    assert.ok(!text.includes("the daemon commits it"), "with merges still to do, the agent must commit");
  });

  it("asks for git status when git named no file", () => {
    assert.ok(buildConflictSection({ ...conflict, files: [] }).includes("The conflicted files:\n- (git named none: run `git status`)\n"));
  });

  it("comes first, then the server's prompt unchanged", () => {
    const prompt = "You are a coding agent carrying out one step.\n# Your step: Paint it purple\n";
    const full = withConflictSection(prompt, conflict);
    assert.ok(full.startsWith("# First: resolve a merge conflict\n"));
    assert.ok(full.endsWith(`\n---\n\n${prompt}`));
    assert.equal(full.match(/^# Your step: (.+)$/m)?.[1], "Paint it purple", "an agent that reads its step name from the prompt still finds it");
  });
});

describe("unresolvedMergeError", () => {
  it("is null when nothing is left", () => {
    assert.equal(unresolvedMergeError({ markers: [], unmerged: [], missing: [] }), null);
  });

  it("names the files that still hold conflict markers", () => {
    assert.equal(
      unresolvedMergeError({ markers: ["a.txt", "b.txt"], unmerged: [], missing: [] }),
      "The agent exited 0 but left conflict markers in a.txt, b.txt. Resolve every conflict, remove the markers and conclude the merge (git add, git commit) before exiting 0.",
    );
  });

  it("names unmerged paths and dependencies missing from the branch, each in its own clause", () => {
    assert.equal(
      unresolvedMergeError({ markers: ["a.txt"], unmerged: ["logo.png"], missing: [{ name: "Paint it blue", commit: "0123456789abcdef" }] }),
      'The agent exited 0 but left conflict markers in a.txt; left the merge unfinished: logo.png still unmerged (mark each resolved with git add or git rm); did not merge "Paint it blue" (commit 0123456789) into its branch (an aborted merge or a reset drops a dependency\'s work). Resolve every conflict, remove the markers and conclude the merge (git add, git commit) before exiting 0.',
    );
  });
});
