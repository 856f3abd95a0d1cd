/*
 * The integration's prompt (src/prompts/integration.ts): the conflict section in an integration's
 * words, then the directive, the steps merged, where the result goes and its check.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildIntegrationPrompt, type IntegrationInput } from "../../src/prompts/integration";

const input: IntegrationInput = {
  directiveTitle: "Colors",
  goal: "Paint red and blue.",
  baseBranch: "main",
  resultBranch: "baton/0123abcd/result",
  sinks: [
    { name: "Paint it red", commit: "1111111111aaaaaaaaaa1111111111aaaaaaaaaa" },
    { name: "Paint it blue", commit: "2222222222bbbbbbbbbb2222222222bbbbbbbbbb" },
  ],
  check: "npm test",
  conflict: { dependency: { name: "Paint it blue", commit: "2222222222bbbbbbbbbb2222222222bbbbbbbbbb" }, files: ["shared.txt"], pending: [] },
};

describe("the integration prompt", () => {
  it("opens with the conflict, in an integration's words", () => {
    const prompt = buildIntegrationPrompt(input);
    assert.ok(
      prompt.startsWith(`# First: resolve a merge conflict
Every step of the directive is done, so the daemon is merging the branches of its last steps into one result, starting from the base branch. Merging "Paint it blue" (commit 2222222222) conflicted, and the merge is still in progress (\`git status\` shows it). The conflicted files:
- shared.txt

What to do:
`),
      prompt,
    );
    assert.ok(prompt.includes("\nThen exit 0: the daemon commits the merge if you did not, runs the directive's check on the result, and pushes it.\n\n---\n\n"), prompt);
  });

  it("then names the directive, every step merged, the result branch and the check", () => {
    const prompt = buildIntegrationPrompt(input);
    assert.ok(
      prompt.endsWith(`# Directive: Colors
Paint red and blue.

# The result
The result starts from the base branch \`main\` and merges the final commit of each of these steps (the steps no other step builds on; each holds the work of the steps before it):
- "Paint it red" (commit 1111111111)
- "Paint it blue" (commit 2222222222)

It is pushed as the branch \`baton/0123abcd/result\`. Before that it must pass the directive's check: \`npm test\` (run it yourself once the merge is done).

# Rules
- Your one job is the merge: keep the work of every step. Do not start new work, and do not drop a step's changes to make a conflict go away.
- Stay inside this worktree; do not push, and do not change other branches.
`),
      prompt,
    );
  });

  it("says nothing of a check when the directive has none", () => {
    assert.ok(buildIntegrationPrompt({ ...input, check: null }).includes("It is pushed as the branch `baton/0123abcd/result`.\n\n# Rules"));
  });
});
