/*
 * The planning and re-planning prompts: pure functions of their input (no database, clock or env).
 * The planner is an agent that runs with BATON_DIRECTIVE_ID and BATON_TOKEN set and adds steps with
 * the `baton` CLI, so the prompt spells out the exact commands.
 */

export type PlanInput = {
  directiveId: string;
  title: string;
  goal: string;
  repo: string | null;
  baseBranch: string;
  generation: number;
  /** The directive's check (check_command), run after each step's agent exits 0; null or absent: none. */
  check?: string | null;
  /**
   * Steps an earlier planning attempt of the same goal revision added before it failed or was
   * interrupted: the resumed planner must not add them again. Absent or empty: none.
   */
  earlierSteps?: ExistingStep[];
  /** The directive reviews plans (review_plans): what the planner writes waits for the owner's approval. */
  reviewPlans?: boolean;
  /** Why the owner rejected the last plan proposed for this goal revision; null or absent: none was. */
  rejection?: string | null;
};

export type ExistingStep = {
  id: string;
  name: string;
  description?: string | null;
  taskPlan?: string | null;
  status: string;
  generation: number;
  dependsOn: string[];
  branch: string | null;
  commitSha: string | null;
  error: string | null;
};

export type ReplanInput = PlanInput & { previousGoal: string | null; steps: ExistingStep[] };

function header(input: PlanInput): string {
  return [
    `You are the planner of a Baton directive. Break the goal into steps that coding agents will carry out, one agent per step, ${
      input.repo ? "each in its own git worktree" : "each in its own working directory"
    }.`,
    ``,
    `# Directive`,
    `- Id: ${input.directiveId} (already set in BATON_DIRECTIVE_ID)`,
    `- Title: ${input.title}`,
    `- Repository: ${input.repo ?? "none (each step runs in an empty working directory)"}`,
    `- Base branch: ${input.baseBranch}`,
    `- Generation of the steps you add: ${input.generation}`,
  ].join("\n");
}

function commands(): string {
  return [
    `# How to add steps`,
    `Add every step in one atomic batch (preferred). Give each entry a "key"; "dependsOn" lists keys of entries in the same batch or ids of existing steps:`,
    "",
    "```sh",
    `baton directive batch-add-steps --json '[`,
    `  {"key": "schema", "name": "Add the users table", "description": "Why this step exists", "taskPlan": "Self-contained instructions..."},`,
    `  {"key": "api", "name": "Expose users over the API", "taskPlan": "...", "dependsOn": ["schema"]}`,
    `]'`,
    "```",
    "",
    `Or one at a time; \`add-step\` prints the new step's id, which later \`--depends-on\` values use (comma-separated for several):`,
    "",
    "```sh",
    `SCHEMA=$(baton directive add-step "Add the users table" --description "Why this step exists" --task-plan "Self-contained instructions...")`,
    `baton directive add-step "Expose users over the API" --task-plan "..." --depends-on "$SCHEMA"`,
    "```",
    "",
    `A batch is all or nothing: if it is rejected (a cycle, an unknown id), the error says why; fix the input and run it again.`,
  ].join("\n");
}

/* Plan review: the owner approves the plan before anything runs, and a rejection's reason is the first thing to act on. */
function review(input: PlanInput): string[] {
  const out: string[] = [];
  if (input.rejection?.trim()) {
    out.push(
      ``,
      `# Your last plan was rejected`,
      `The owner reviewed the plan proposed for this goal and rejected it, saying:`,
      input.rejection
        .trim()
        .split("\n")
        .map((l) => `> ${l}`)
        .join("\n"),
      `Plan again with that in mind.`,
    );
  }
  if (input.reviewPlans) {
    out.push(
      ``,
      `# Review`,
      `This directive reviews plans: the steps you add, remove and re-wire form a proposal that the owner approves or rejects after you exit; nothing runs before that. Use the commands below as usual; the ids they print are valid within your plan.`,
    );
  }
  return out;
}

function exploreFirst(input: PlanInput): string {
  return [
    `# First, explore`,
    input.repo
      ? `Your working directory is a checkout of the repository on the base branch. Before you plan, read it: the README, the layout, the build and test commands, the code the goal touches. Plan from what is there, not from guesses; name real files and commands in the task plans.`
      : `Your working directory is empty: there is no repository to read. Plan from the goal alone, and say in each task plan what files the step creates.`,
  ].join("\n");
}

function checks(input: PlanInput): string {
  const where = input.repo ? "worktree" : "working directory";
  return [
    `# Checks and limits`,
    input.check
      ? `This directive has a check: after a step's agent exits 0, Baton runs \`${input.check}\` in the step's ${where}, and the step is completed only if it exits 0 too.`
      : `This directive has no check of its own: a step is completed when its agent exits 0, unless the step has a check.`,
    `A step may carry its own check ("check" in a batch entry, \`--check\` on add-step), which replaces the directive's for that step: a shell command, such as a narrower test run, that exits 0 when the step's work is right. A failing check fails the attempt; the step is retried with the check's command and the end of its output in the next attempt's prompt, and its dependents wait until it passes (a step whose last attempt fails is failed and its dependents blocked).`,
    `A step may also limit each attempt: "timeout" (wall clock) and "stall" (longest time without output), as durations such as "30m" or "2h" (\`--timeout\`, \`--stall\` on add-step). An attempt past either is interrupted and retried. Give a long step a longer timeout than the directive's.`,
    `A step may name the kind of agent it needs: "agent" in a batch entry (\`--agent\` on add-step), such as "claude" or "codex". Only daemons started with that label take the step; one nobody can take waits, and \`step_waits\` says why. Leave it out unless the step needs that agent: a step without it runs on any daemon.`,
    "",
    "```sh",
    `baton directive batch-add-steps --json '[{"name": "Add the users table", "taskPlan": "...", "check": "npm test -- users", "timeout": "1h", "stall": "10m"}]'`,
    "```",
  ].join("\n");
}

function earlier(input: PlanInput): string[] {
  const steps = input.earlierSteps ?? [];
  if (steps.length === 0) return [];
  return [
    ``,
    `# Steps you already added`,
    `An earlier attempt at this plan added these steps before it ended without finishing. They are part of the plan: do not add them again. Add only what is still missing; "dependsOn" may name their ids.`,
    steps.map((s) => `- ${s.id}: ${s.name} (status ${s.status})`).join("\n"),
  ];
}

function rules(input: PlanInput): string {
  return [
    `# Rules`,
    `- Every taskPlan must be self-contained: the agent that executes a step has no access to this prompt, the goal's discussion, or the other steps' plans. Name files, interfaces, commands and acceptance checks explicitly.`,
    input.repo
      ? `- Prefer a linear chain of steps unless the pieces of work are truly independent. Dependencies also carry the git work forward: a step starts from the branch of its dependency, and a step with several dependencies starts from a merge of their branches, which can conflict.`
      : `- Prefer a linear chain of steps unless the pieces of work are truly independent: a step starts only when every step it depends on has completed.`,
    `- Keep steps small enough for one agent session, and large enough to be worth a separate commit.`,
    `- Do not do the work yourself: your job ends when the steps are added. Exit 0 when done; exit non-zero if you could not plan.`,
  ].join("\n");
}

export function buildPlanningPrompt(input: PlanInput): string {
  return [header(input), ``, `# Goal`, input.goal, ...review(input), ...earlier(input), ``, exploreFirst(input), ``, commands(), ``, checks(input), ``, rules(input), ``].join("\n");
}

const FIELD_CHARS = 4000;

/* A step's multi-line text under its list item, indented so it stays inside the item; long ones are shortened. */
function field(label: string, text: string | null | undefined): string {
  const t = text?.trim();
  if (!t) return "";
  const body = t.length <= FIELD_CHARS ? t : `${t.slice(0, FIELD_CHARS).trimEnd()}… (shortened; ${t.length} characters in all)`;
  return `\n  ${label}: ${body.split("\n").join("\n    ")}`;
}

function describeStep(s: ExistingStep): string {
  const facts = [`status ${s.status}`, `generation ${s.generation}`];
  if (s.dependsOn.length > 0) facts.push(`depends on ${s.dependsOn.join(", ")}`);
  if (s.branch) facts.push(`branch ${s.branch}`);
  if (s.commitSha) facts.push(`commit ${s.commitSha}`);
  const error = s.error ? `\n  Last error: ${s.error.replace(/\s+/g, " ").slice(0, 500)}` : "";
  return `- ${s.id}: ${s.name} (${facts.join("; ")})${field("Description", s.description)}${field("Task plan", s.taskPlan)}${error}`;
}

export function buildReplanningPrompt(input: ReplanInput): string {
  const steps = input.steps.length > 0 ? input.steps.map(describeStep).join("\n") : "(none)";
  return [
    header(input),
    ``,
    `The goal has changed since the existing steps were planned. Re-plan: keep what still serves the new goal, remove what is obsolete, and add the steps that are missing. New steps get generation ${input.generation}.`,
    ``,
    `# Previous goal`,
    input.previousGoal ?? "(none recorded)",
    ``,
    `# New goal`,
    input.goal,
    ``,
    `# Existing steps`,
    steps,
    ...review(input),
    ...earlier(input),
    ``,
    exploreFirst(input),
    ``,
    commands(),
    ``,
    checks(input),
    ``,
    `# Changing existing steps`,
    `- Remove a step that is no longer needed (pending, ready, failed, skipped or blocked ones; completed and running steps stay):`,
    "  ```sh",
    `  baton directive remove-step STEP_ID`,
    "  ```",
    `  If other steps depend on it the command refuses and lists them; \`--force\` re-wires them onto its own dependencies.`,
    `- Build on completed work by listing completed step ids in "dependsOn" (the new step then starts from their commits).`,
    `- Re-wire a waiting step: \`baton directive set-deps STEP_ID "ID1,ID2"\`.`,
    ``,
    rules(input),
    ``,
  ].join("\n");
}
