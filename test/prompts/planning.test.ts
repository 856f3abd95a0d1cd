/*
 * The planning and re-planning prompts: pure builders, checked without a database. The full text is
 * pinned once (review the diff when it changes); the other tests check properties that must hold for
 * any input.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseBatch } from "../../src/cli/commands/step-batch-add";
import { parseIdList } from "../../src/cli/context";
import { buildPlanningPrompt, buildReplanningPrompt, type ExistingStep, type PlanInput } from "../../src/prompts/planning";
import { parseWithCli, runWithStub, shellSnippets, STUB_ID } from "../helpers/cli-check";

const input: PlanInput = {
  directiveId: "6c0f4e2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
  title: "User accounts",
  goal: "Let people sign up and log in.\nPasswords are hashed with argon2.",
  repo: "https://git.example.com/shop.git",
  baseBranch: "develop",
  generation: 1,
};

const steps: ExistingStep[] = [
  { id: "a1a1a1a1-0000-4000-8000-000000000001", name: "Add the users table", status: "completed", generation: 1, dependsOn: [], branch: "baton/a1a1", commitSha: "0123abcd", error: null },
  {
    id: "b2b2b2b2-0000-4000-8000-000000000002",
    name: "Expose users over the API",
    status: "failed",
    generation: 1,
    dependsOn: ["a1a1a1a1-0000-4000-8000-000000000001"],
    branch: null,
    commitSha: null,
    error: "npm test failed:\n  2 failing",
  },
  { id: "c3c3c3c3-0000-4000-8000-000000000003", name: "Write the docs", status: "blocked", generation: 1, dependsOn: ["b2b2b2b2-0000-4000-8000-000000000002"], branch: null, commitSha: null, error: null },
];

const replanInput = { ...input, generation: 2, previousGoal: "Let people sign up.", goal: "Let people sign up, log in and reset their password.", steps };

const FORBIDDEN = ["${", "{{", "}}", "undefined", "null", "NaN", "[object Object]"];

function assertNoPlaceholders(prompt: string): void {
  for (const f of FORBIDDEN) assert.ok(!prompt.includes(f), `the prompt contains ${JSON.stringify(f)}`);
}

/** Every command the prompt shows, as the CLI parses it. Upper-case placeholders are ids to fill in. */
function commandsOf(prompt: string, placeholders: Record<string, string> = {}) {
  return shellSnippets(prompt)
    .map((snippet) => Object.entries(placeholders).reduce((s, [k, v]) => s.replace(new RegExp(`\\b${k}\\b`, "g"), v), snippet))
    .flatMap((snippet) => runWithStub(snippet))
    .map(parseWithCli);
}

describe("the planning prompt", () => {
  it("is exactly this text for a directive on a repository", () => {
    assert.equal(
      buildPlanningPrompt(input),
      `You are the planner of a Baton directive. Break the goal into steps that coding agents will carry out, one agent per step, each in its own git worktree.

# Directive
- Id: 6c0f4e2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b (already set in BATON_DIRECTIVE_ID)
- Title: User accounts
- Repository: https://git.example.com/shop.git
- Base branch: develop
- Generation of the steps you add: 1

# Goal
Let people sign up and log in.
Passwords are hashed with argon2.

# First, explore
Your working directory is a checkout of the repository on the base branch. Before you plan, read it: the README, the layout, the build and test commands, the code the goal touches. Plan from what is there, not from guesses; name real files and commands in the task plans.

# How to add steps
Add every step in one atomic batch (preferred). Give each entry a "key"; "dependsOn" lists keys of entries in the same batch or ids of existing steps:

\`\`\`sh
baton directive batch-add-steps --json '[
  {"key": "schema", "name": "Add the users table", "description": "Why this step exists", "taskPlan": "Self-contained instructions..."},
  {"key": "api", "name": "Expose users over the API", "taskPlan": "...", "dependsOn": ["schema"]}
]'
\`\`\`

Or one at a time; \`add-step\` prints the new step's id, which later \`--depends-on\` values use (comma-separated for several):

\`\`\`sh
SCHEMA=$(baton directive add-step "Add the users table" --description "Why this step exists" --task-plan "Self-contained instructions...")
baton directive add-step "Expose users over the API" --task-plan "..." --depends-on "$SCHEMA"
\`\`\`

A batch is all or nothing: if it is rejected (a cycle, an unknown id), the error says why; fix the input and run it again.

# Checks and limits
This directive has no check of its own: a step is completed when its agent exits 0, unless the step has a check.
A step may carry its own check ("check" in a batch entry, \`--check\` on add-step), which replaces the directive's for that step: a shell command, such as a narrower test run, that exits 0 when the step's work is right. A failing check fails the attempt; the step is retried with the check's command and the end of its output in the next attempt's prompt, and its dependents wait until it passes (a step whose last attempt fails is failed and its dependents blocked).
A step may also limit each attempt: "timeout" (wall clock) and "stall" (longest time without output), as durations such as "30m" or "2h" (\`--timeout\`, \`--stall\` on add-step). An attempt past either is interrupted and retried. Give a long step a longer timeout than the directive's.
A step may name the kind of agent it needs: "agent" in a batch entry (\`--agent\` on add-step), such as "claude" or "codex". Only daemons started with that label take the step; one nobody can take waits, and \`step_waits\` says why. Leave it out unless the step needs that agent: a step without it runs on any daemon.

\`\`\`sh
baton directive batch-add-steps --json '[{"name": "Add the users table", "taskPlan": "...", "check": "npm test -- users", "timeout": "1h", "stall": "10m"}]'
\`\`\`

# Rules
- Every taskPlan must be self-contained: the agent that executes a step has no access to this prompt, the goal's discussion, or the other steps' plans. Name files, interfaces, commands and acceptance checks explicitly.
- Prefer a linear chain of steps unless the pieces of work are truly independent. Dependencies also carry the git work forward: a step starts from the branch of its dependency, and a step with several dependencies starts from a merge of their branches, which can conflict.
- Keep steps small enough for one agent session, and large enough to be worth a separate commit.
- Do not do the work yourself: your job ends when the steps are added. Exit 0 when done; exit non-zero if you could not plan.
`,
    );
  });

  it("names the title, goal, repository, base branch, generation and directive id", () => {
    const prompt = buildPlanningPrompt({ ...input, generation: 7 });
    assert.ok(prompt.includes("- Title: User accounts\n"));
    assert.ok(prompt.includes("# Goal\nLet people sign up and log in.\nPasswords are hashed with argon2.\n"));
    assert.ok(prompt.includes("- Repository: https://git.example.com/shop.git\n"));
    assert.ok(prompt.includes("- Base branch: develop\n"));
    assert.ok(prompt.includes("- Generation of the steps you add: 7\n"));
    assert.ok(prompt.includes(`- Id: ${input.directiveId} (already set in BATON_DIRECTIVE_ID)`));
  });

  it("states the self-contained rule and prefers linear chains", () => {
    const prompt = buildPlanningPrompt(input);
    assert.match(prompt, /Every taskPlan must be self-contained/);
    assert.match(prompt, /Prefer a linear chain of steps unless the pieces of work are truly independent/);
  });

  it("shows batch-add-steps and add-step with --depends-on", () => {
    const prompt = buildPlanningPrompt(input);
    assert.match(prompt, /baton directive batch-add-steps --json '/);
    assert.match(prompt, /baton directive add-step "[^"]+" .*--depends-on "\$SCHEMA"/);
  });

  it("has no unfilled placeholders, with or without a repository", () => {
    assertNoPlaceholders(buildPlanningPrompt(input));
    assertNoPlaceholders(buildPlanningPrompt({ ...input, repo: null }));
  });

  it("speaks of working directories, not git worktrees or branches, when the directive has no repository", () => {
    const prompt = buildPlanningPrompt({ ...input, repo: null });
    assert.ok(prompt.includes("- Repository: none (each step runs in an empty working directory)\n"));
    assert.ok(prompt.includes("one agent per step, each in its own working directory."));
    assert.doesNotMatch(prompt, /worktree|branch of its dependency/);
  });

  it("shows commands that run as written: the CLI parses each, and the batch JSON has the contract's shape", () => {
    const calls = commandsOf(buildPlanningPrompt(input));
    assert.deepEqual(
      calls.map((c) => c.name),
      ["directive batch-add-steps", "directive add-step", "directive add-step", "directive batch-add-steps"],
    );
    // The checks-and-limits example: a step's own check, timeout and stall in a batch entry.
    assert.deepEqual(parseBatch(calls[3]!.opts.json as string), [
      { name: "Add the users table", taskPlan: "...", check: "npm test -- users", timeout: "1h", stall: "10m" },
    ]);
    const batch = parseBatch(calls[0]!.opts.json as string);
    assert.deepEqual(batch, [
      { key: "schema", name: "Add the users table", description: "Why this step exists", taskPlan: "Self-contained instructions..." },
      { key: "api", name: "Expose users over the API", taskPlan: "...", dependsOn: ["schema"] },
    ]);
    const keys = new Set(batch.map((e) => e.key));
    for (const e of batch) for (const dep of e.dependsOn ?? []) assert.ok(keys.has(dep), `dependsOn ${dep} is a key of the batch`);
    assert.deepEqual(calls[1]!.operands, ["Add the users table"]);
    assert.deepEqual(calls[2]!.operands, ["Expose users over the API"]);
    // The id add-step printed reaches --depends-on through the shell variable.
    assert.deepEqual(parseIdList(calls[2]!.opts.dependsOn as string, "--depends-on"), [STUB_ID]);
  });
});

describe("the planning prompt: explore first, checks and limits, steps already added", () => {
  it("asks the planner to read the repository before it plans, or says there is none", () => {
    assert.ok(
      buildPlanningPrompt(input).includes(
        "# First, explore\nYour working directory is a checkout of the repository on the base branch. Before you plan, read it: the README, the layout, the build and test commands, the code the goal touches. Plan from what is there, not from guesses; name real files and commands in the task plans.\n",
      ),
    );
    assert.ok(
      buildPlanningPrompt({ ...input, repo: null }).includes(
        "# First, explore\nYour working directory is empty: there is no repository to read. Plan from the goal alone, and say in each task plan what files the step creates.\n",
      ),
    );
    // Exploring comes before adding steps.
    const prompt = buildPlanningPrompt(input);
    assert.ok(prompt.indexOf("# First, explore") < prompt.indexOf("# How to add steps"));
  });

  it("names the directive's check and where it runs", () => {
    assert.ok(
      buildPlanningPrompt({ ...input, check: "npm run lint && npm test" }).includes(
        "# Checks and limits\nThis directive has a check: after a step's agent exits 0, Baton runs `npm run lint && npm test` in the step's worktree, and the step is completed only if it exits 0 too.\n",
      ),
    );
    assert.ok(
      buildPlanningPrompt({ ...input, repo: null, check: "make test" }).includes(
        "Baton runs `make test` in the step's working directory, and the step is completed only if it exits 0 too.\n",
      ),
    );
    assert.ok(buildPlanningPrompt({ ...input, check: null }).includes("This directive has no check of its own: a step is completed when its agent exits 0, unless the step has a check.\n"));
  });

  it("explains a step's check, what a failing check does, and the timeout and stall fields", () => {
    const prompt = buildPlanningPrompt(input);
    assert.match(prompt, /A step may carry its own check \("check" in a batch entry, `--check` on add-step\), which replaces the directive's for that step/);
    assert.match(prompt, /A failing check fails the attempt; the step is retried with the check's command and the end of its output in the next attempt's prompt, and its dependents wait until it passes/);
    assert.match(prompt, /"timeout" \(wall clock\) and "stall" \(longest time without output\), as durations such as "30m" or "2h" \(`--timeout`, `--stall` on add-step\)\. An attempt past either is interrupted and retried\./);
  });

  it("explains a step's agent: only daemons with that label take it", () => {
    assert.ok(buildPlanningPrompt(input).includes('A step may name the kind of agent it needs: "agent" in a batch entry (`--agent` on add-step)'));
  });

  it("lists the steps an earlier attempt already added and says not to add them again", () => {
    const earlierSteps: ExistingStep[] = [
      { ...steps[0]!, status: "ready", branch: null, commitSha: null },
      { ...steps[1]!, status: "pending", error: null },
    ];
    const prompt = buildPlanningPrompt({ ...input, earlierSteps });
    assert.ok(
      prompt.includes(
        [
          "Passwords are hashed with argon2.",
          "",
          "# Steps you already added",
          `An earlier attempt at this plan added these steps before it ended without finishing. They are part of the plan: do not add them again. Add only what is still missing; "dependsOn" may name their ids.`,
          "- a1a1a1a1-0000-4000-8000-000000000001: Add the users table (status ready)",
          "- b2b2b2b2-0000-4000-8000-000000000002: Expose users over the API (status pending)",
          "",
          "# First, explore",
        ].join("\n"),
      ),
    );
    assertNoPlaceholders(prompt);
    // A first attempt, or one that added nothing, has no such section.
    assert.doesNotMatch(buildPlanningPrompt(input), /Steps you already added/);
    assert.doesNotMatch(buildPlanningPrompt({ ...input, earlierSteps: [] }), /Steps you already added/);
  });
});

describe("the re-planning prompt", () => {
  it("lists every existing step with its id, name, status, generation, dependencies, branch, commit and last error", () => {
    const prompt = buildReplanningPrompt(replanInput);
    assert.ok(
      prompt.includes(
        [
          "# Existing steps",
          "- a1a1a1a1-0000-4000-8000-000000000001: Add the users table (status completed; generation 1; branch baton/a1a1; commit 0123abcd)",
          "- b2b2b2b2-0000-4000-8000-000000000002: Expose users over the API (status failed; generation 1; depends on a1a1a1a1-0000-4000-8000-000000000001)",
          "  Last error: npm test failed: 2 failing",
          "- c3c3c3c3-0000-4000-8000-000000000003: Write the docs (status blocked; generation 1; depends on b2b2b2b2-0000-4000-8000-000000000002)",
          "",
        ].join("\n"),
      ),
    );
  });

  it("gives each existing step's description and task plan, indented under it, long ones shortened", () => {
    const described: ExistingStep[] = [
      { ...steps[0]!, description: "Users need a table.", taskPlan: "Create migrations/001_users.sql:\n  id, email, password_hash.\nRun npm test." },
      { ...steps[1]!, description: null, taskPlan: "x".repeat(5000), error: null },
    ];
    const prompt = buildReplanningPrompt({ ...replanInput, steps: described });
    assert.ok(
      prompt.includes(
        [
          "- a1a1a1a1-0000-4000-8000-000000000001: Add the users table (status completed; generation 1; branch baton/a1a1; commit 0123abcd)",
          "  Description: Users need a table.",
          "  Task plan: Create migrations/001_users.sql:",
          "      id, email, password_hash.",
          "    Run npm test.",
          `- b2b2b2b2-0000-4000-8000-000000000002: Expose users over the API (status failed; generation 1; depends on a1a1a1a1-0000-4000-8000-000000000001)`,
          `  Task plan: ${"x".repeat(4000)}… (shortened; 5000 characters in all)`,
          "",
        ].join("\n"),
      ),
    );
    assertNoPlaceholders(prompt);
  });

  it("lists the steps an earlier attempt of this re-plan added, and explains checks and exploring", () => {
    const prompt = buildReplanningPrompt({ ...replanInput, check: "npm test", earlierSteps: [steps[2]!] });
    assert.ok(prompt.includes("# Steps you already added\n"));
    assert.ok(prompt.includes("- c3c3c3c3-0000-4000-8000-000000000003: Write the docs (status blocked)\n"));
    assert.ok(prompt.includes("# First, explore\n"));
    assert.ok(prompt.includes("This directive has a check: after a step's agent exits 0, Baton runs `npm test` in the step's worktree"));
  });

  it("shows the previous and the new goal, and the new generation", () => {
    const prompt = buildReplanningPrompt(replanInput);
    assert.ok(prompt.includes("# Previous goal\nLet people sign up.\n\n# New goal\nLet people sign up, log in and reset their password.\n"));
    assert.ok(prompt.includes("- Generation of the steps you add: 2\n"));
    assert.ok(prompt.includes("New steps get generation 2."));
  });

  it("says so when there is no previous goal or no step", () => {
    const prompt = buildReplanningPrompt({ ...replanInput, previousGoal: null, steps: [] });
    assert.ok(prompt.includes("# Previous goal\n(none recorded)\n"));
    assert.ok(prompt.includes("# Existing steps\n(none)\n"));
    assertNoPlaceholders(prompt);
  });

  it("has no unfilled placeholders", () => {
    assertNoPlaceholders(buildReplanningPrompt(replanInput));
    assertNoPlaceholders(buildReplanningPrompt({ ...replanInput, repo: null }));
  });

  it("keeps the rules and the commands of the planning prompt", () => {
    const prompt = buildReplanningPrompt(replanInput);
    assert.match(prompt, /Every taskPlan must be self-contained/);
    assert.match(prompt, /Prefer a linear chain of steps/);
    assert.match(prompt, /baton directive batch-add-steps --json '/);
    assert.match(prompt, /--depends-on "\$SCHEMA"/);
  });

  it("shows remove-step and set-deps commands that the CLI parses once the ids are filled in", () => {
    const ids = { STEP_ID: steps[2]!.id, ID1: steps[0]!.id, ID2: steps[1]!.id };
    const calls = commandsOf(buildReplanningPrompt(replanInput), ids);
    assert.deepEqual(
      calls.map((c) => c.name),
      ["directive batch-add-steps", "directive add-step", "directive add-step", "directive batch-add-steps", "directive remove-step", "directive set-deps"],
    );
    assert.deepEqual(calls[4]!.operands, [steps[2]!.id]);
    assert.deepEqual(calls[5]!.operands, [steps[2]!.id, `${steps[0]!.id},${steps[1]!.id}`]);
    // --force, which the prompt mentions for steps with dependents, is an option of remove-step.
    assert.deepEqual(parseWithCli(["directive", "remove-step", steps[2]!.id, "--force"]).opts.force, true);
  });
});
