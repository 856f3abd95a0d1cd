/*
 * The execution prompt for one attempt of one step: pure, everything the agent needs in one text,
 * since it has no other context.
 */

export type DependencyOutput = { id: string; name: string; status: string; branch: string | null; commitSha: string | null };

export type ExecutionInput = {
  directiveTitle: string;
  goal: string;
  repo: string | null;
  stepId: string;
  stepName: string;
  description: string | null;
  taskPlan: string | null;
  dependencies: DependencyOutput[];
  /** The attempt within the current round (retry-step starts a new round at 1). */
  attempt: number;
  maxAttempts: number;
  /** The error of the step's previous attempt if it failed or was interrupted, else null. */
  previousError: string | null;
  /** The check run after the agent exits 0 (the step's own, else the directive's); null or absent: none. */
  check?: string | null;
};

const GOAL_SUMMARY_CHARS = 2000;

export function summarizeGoal(goal: string, limit = GOAL_SUMMARY_CHARS): string {
  const trimmed = goal.trim();
  return trimmed.length <= limit ? trimmed : `${trimmed.slice(0, limit).trimEnd()}… (goal shortened; ${trimmed.length} characters in all)`;
}

export function buildExecutionPrompt(input: ExecutionInput): string {
  const deps =
    input.dependencies.length === 0
      ? input.repo
        ? "None: you start from the base branch."
        : "None."
      : input.dependencies
          .map((d) => `- ${d.name} (${d.status}${d.branch ? `, branch ${d.branch}` : ""}${d.commitSha ? `, commit ${d.commitSha}` : ""})`)
          .join("\n") + (input.repo ? "\nYour worktree already contains their commits." : "");
  // After a failure: attempt n of the current round, or a round restarted by hand (retry-step).
  const retry =
    input.attempt > 1 || input.previousError !== null
      ? [
          ``,
          input.attempt > 1 ? `# This is attempt ${input.attempt} of ${input.maxAttempts}` : `# This step runs again after it failed`,
          `The previous attempt failed with:`,
          "```",
          (input.previousError ?? "(no error was recorded)").slice(-4000),
          "```",
          `Avoid repeating what made it fail.`,
        ]
      : [];
  // The gate: the agent should run it first, since a failing check fails the attempt.
  const check = input.check
    ? [
        ``,
        `# Acceptance check`,
        `When you exit 0, Baton runs this check in your ${input.repo ? "worktree" : "working directory"}; the step is completed only if it exits 0 too. If it fails, this attempt fails and the end of its output goes to the next attempt.`,
        "```sh",
        input.check,
        "```",
        `Run it yourself before you exit, and fix what it reports.`,
      ]
    : [];
  return [
    `You are a coding agent carrying out one step of a larger plan, in the current working directory${input.repo ? " (a git worktree on this step's own branch)" : ""}.`,
    ``,
    `# The overall goal (for context: do only your step)`,
    `Directive: ${input.directiveTitle}`,
    summarizeGoal(input.goal),
    ``,
    `# Your step: ${input.stepName}`,
    `Step id: ${input.stepId}`,
    input.description ? `\n${input.description}` : "",
    ``,
    `# Plan`,
    input.taskPlan ?? "(no plan was given: do what the step's name and description ask)",
    ``,
    `# What your dependencies produced`,
    deps,
    ...check,
    ...retry,
    ``,
    `# Ground rules`,
    `- Stay inside ${input.repo ? "this worktree" : "this working directory"}: create, change and delete files only under it. Do not write anywhere else (other checkouts, your home directory, system paths); other agents work next to you.`,
    `- Before you exit, run the acceptance checks your plan names (tests, build, lint)${input.check ? " and the check above" : ""}, and fix what fails. Exit 0 only when they pass.`,
    `- If you need a decision only the user can make, do not guess: \`baton ask "QUESTION" [--choice A --choice B] [--timeout 30m]\` waits for their answer and prints it. Ask only when it matters; the step waits meanwhile.`,
    ``,
    `# When you are done`,
    `Exit 0 and the step is marked completed${input.check ? " once the check above passes" : ""}${input.repo ? "; anything you leave uncommitted is committed for you" : ""}. Exit non-zero to report failure; the end of your stderr becomes the error shown to the user and to the next attempt.`,
    ``,
  ]
    .filter((line, i, all) => !(line === "" && all[i - 1] === ""))
    .join("\n");
}
