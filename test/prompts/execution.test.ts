/*
 * The execution prompt: a pure builder, checked without a database.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildExecutionPrompt, summarizeGoal, type ExecutionInput } from "../../src/prompts/execution";

const first: ExecutionInput = {
  directiveTitle: "User accounts",
  goal: "Let people sign up and log in.",
  repo: "https://git.example.com/shop.git",
  stepId: "b2b2b2b2-0000-4000-8000-000000000002",
  stepName: "Expose users over the API",
  description: "The mobile app needs it.",
  taskPlan: "Add GET /users/:id in src/api/users.ts; test it in test/api/users.test.ts.",
  dependencies: [
    { id: "a1a1a1a1-0000-4000-8000-000000000001", name: "Add the users table", status: "completed", branch: "baton/a1a1", commitSha: "0123abcd" },
    { id: "d4d4d4d4-0000-4000-8000-000000000004", name: "Pick a password hash", status: "skipped", branch: null, commitSha: null },
  ],
  attempt: 1,
  maxAttempts: 2,
  previousError: null,
};

const retry: ExecutionInput = { ...first, attempt: 2, previousError: "npm test failed:\n  2 failing" };

const FORBIDDEN = ["${", "{{", "}}", "undefined", "null", "NaN", "[object Object]"];

function assertNoPlaceholders(prompt: string): void {
  for (const f of FORBIDDEN) assert.ok(!prompt.includes(f), `the prompt contains ${JSON.stringify(f)}`);
}

describe("the execution prompt", () => {
  it("is exactly this text for a second attempt on a repository", () => {
    assert.equal(
      buildExecutionPrompt(retry),
      `You are a coding agent carrying out one step of a larger plan, in the current working directory (a git worktree on this step's own branch).

# The overall goal (for context: do only your step)
Directive: User accounts
Let people sign up and log in.

# Your step: Expose users over the API
Step id: b2b2b2b2-0000-4000-8000-000000000002

The mobile app needs it.

# Plan
Add GET /users/:id in src/api/users.ts; test it in test/api/users.test.ts.

# What your dependencies produced
- Add the users table (completed, branch baton/a1a1, commit 0123abcd)
- Pick a password hash (skipped)
Your worktree already contains their commits.

# This is attempt 2 of 2
The previous attempt failed with:
\`\`\`
npm test failed:
  2 failing
\`\`\`
Avoid repeating what made it fail.

# Ground rules
- Stay inside this worktree: create, change and delete files only under it. Do not write anywhere else (other checkouts, your home directory, system paths); other agents work next to you.
- Before you exit, run the acceptance checks your plan names (tests, build, lint), and fix what fails. Exit 0 only when they pass.
- If you need a decision only the user can make, do not guess: \`baton ask "QUESTION" [--choice A --choice B] [--timeout 30m]\` waits for their answer and prints it. Ask only when it matters; the step waits meanwhile.

# When you are done
Exit 0 and the step is marked completed; anything you leave uncommitted is committed for you. Exit non-zero to report failure; the end of your stderr becomes the error shown to the user and to the next attempt.
`,
    );
  });

  it("is exactly this text for a first attempt without a repository, plan or description", () => {
    assert.equal(
      buildExecutionPrompt({ ...first, repo: null, description: null, taskPlan: null, dependencies: [] }),
      `You are a coding agent carrying out one step of a larger plan, in the current working directory.

# The overall goal (for context: do only your step)
Directive: User accounts
Let people sign up and log in.

# Your step: Expose users over the API
Step id: b2b2b2b2-0000-4000-8000-000000000002

# Plan
(no plan was given: do what the step's name and description ask)

# What your dependencies produced
None.

# Ground rules
- Stay inside this working directory: create, change and delete files only under it. Do not write anywhere else (other checkouts, your home directory, system paths); other agents work next to you.
- Before you exit, run the acceptance checks your plan names (tests, build, lint), and fix what fails. Exit 0 only when they pass.
- If you need a decision only the user can make, do not guess: \`baton ask "QUESTION" [--choice A --choice B] [--timeout 30m]\` waits for their answer and prints it. Ask only when it matters; the step waits meanwhile.

# When you are done
Exit 0 and the step is marked completed. Exit non-zero to report failure; the end of your stderr becomes the error shown to the user and to the next attempt.
`,
    );
  });

  it("names the directive title, the goal, the step's name, id, description and plan", () => {
    const prompt = buildExecutionPrompt(first);
    for (const text of [first.directiveTitle, first.goal, first.stepName, first.stepId, first.description!, first.taskPlan!]) {
      assert.ok(prompt.includes(text), `the prompt contains ${JSON.stringify(text)}`);
    }
  });

  it("names each dependency with its status, branch and commit", () => {
    const prompt = buildExecutionPrompt(first);
    assert.ok(prompt.includes("- Add the users table (completed, branch baton/a1a1, commit 0123abcd)\n"));
    assert.ok(prompt.includes("- Pick a password hash (skipped)\n"));
  });

  it("says the worktree starts from the base branch for a root step on a repository", () => {
    assert.ok(buildExecutionPrompt({ ...first, dependencies: [] }).includes("# What your dependencies produced\nNone: you start from the base branch.\n"));
  });

  it("gives no retry section on a first attempt", () => {
    assert.doesNotMatch(buildExecutionPrompt(first), /# This|previous attempt/i);
  });

  it("gives the attempt number and the previous error on a retry", () => {
    const prompt = buildExecutionPrompt({ ...retry, attempt: 3, maxAttempts: 5 });
    assert.ok(prompt.includes("# This is attempt 3 of 5\nThe previous attempt failed with:\n```\nnpm test failed:\n  2 failing\n```\n"));
  });

  it("gives the previous error when a failed step runs again after retry-step (a new round, attempt 1)", () => {
    const prompt = buildExecutionPrompt({ ...first, previousError: "lint failed" });
    assert.ok(prompt.includes("# This step runs again after it failed\nThe previous attempt failed with:\n```\nlint failed\n```\n"));
  });

  it("keeps the end of a long previous error", () => {
    const error = "x".repeat(5000) + "THE END";
    const prompt = buildExecutionPrompt({ ...retry, previousError: error });
    assert.ok(prompt.includes("THE END\n```"));
    assert.ok(!prompt.includes("x".repeat(4000)));
  });

  it("asks the agent to stay inside its worktree and to run the acceptance checks before it exits", () => {
    const prompt = buildExecutionPrompt(first);
    assert.ok(prompt.includes("- Stay inside this worktree: create, change and delete files only under it. Do not write anywhere else"));
    assert.ok(prompt.includes("- Before you exit, run the acceptance checks your plan names (tests, build, lint), and fix what fails. Exit 0 only when they pass.\n"));
    // With a check, the agent is asked to run it too; the rules come before the exit protocol.
    const checked = buildExecutionPrompt({ ...first, check: "npm test" });
    assert.ok(checked.includes("- Before you exit, run the acceptance checks your plan names (tests, build, lint) and the check above, and fix what fails. Exit 0 only when they pass.\n"));
    assert.ok(checked.indexOf("# Acceptance check") < checked.indexOf("# Ground rules"));
    assert.ok(checked.indexOf("# Ground rules") < checked.indexOf("# When you are done"));
  });

  it("states the completion protocol: exit 0 completes the step, non-zero fails it", () => {
    assert.match(buildExecutionPrompt(first), /Exit 0 and the step is marked completed[^\n]*\. Exit non-zero to report failure/);
    assert.match(buildExecutionPrompt({ ...first, repo: null }), /Exit 0 and the step is marked completed\. Exit non-zero to report failure/);
  });

  it("has no unfilled placeholders and no doubled blank lines", () => {
    for (const input of [first, retry, { ...first, repo: null, description: null, taskPlan: null, dependencies: [] }, { ...retry, previousError: null }]) {
      const prompt = buildExecutionPrompt(input);
      assertNoPlaceholders(prompt);
      assert.doesNotMatch(prompt, /\n\n\n/);
    }
  });

  it("summarizes a long goal and says it was shortened", () => {
    const goal = "word ".repeat(1000).trim();
    const summary = summarizeGoal(goal);
    assert.ok(summary.startsWith("word word"));
    assert.ok(summary.endsWith(`… (goal shortened; ${goal.length} characters in all)`));
    assert.ok(summary.length < goal.length);
    assert.equal(summarizeGoal("  short goal \n"), "short goal");
    assert.ok(buildExecutionPrompt({ ...first, goal }).includes(summary));
  });
});
