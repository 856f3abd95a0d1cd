/*
 * The integration's prompt: pure. An integration task runs an agent only when merging the sinks'
 * branches conflicted (the daemon merges them itself otherwise), so this prompt always opens with the
 * conflict section (prompts/conflict.ts), in an integration's words, followed by what the result is
 * for: the directive, the steps merged, the branch it is pushed to, and the check it must pass.
 */
import { summarizeGoal } from "./execution";
import { withConflictSection, type ConflictWords, type DependencyCommit, type MergeConflict } from "./conflict";

export type IntegrationInput = {
  directiveTitle: string;
  goal: string;
  baseBranch: string;
  resultBranch: string;
  /** The sinks' accepted commits, in the order the daemon merges them. */
  sinks: DependencyCommit[];
  /** The directive's check, run on the result after the merge; null: none. */
  check: string | null;
  conflict: MergeConflict;
};

export const INTEGRATION_CONFLICT_WORDS: ConflictWords = {
  why: "Every step of the directive is done, so the daemon is merging the branches of its last steps into one result, starting from the base branch.",
  before: "What to do:",
  then: "Then exit 0: the daemon commits the merge if you did not, runs the directive's check on the result, and pushes it.",
};

export function buildIntegrationPrompt(input: IntegrationInput): string {
  const body = [
    `You are a coding agent finishing the integration of a directive: its steps were carried out by other agents, each on a branch of its own, and their work must now become one result.`,
    ``,
    `# Directive: ${input.directiveTitle}`,
    summarizeGoal(input.goal),
    ``,
    `# The result`,
    `The result starts from the base branch \`${input.baseBranch}\` and merges the final commit of each of these steps (the steps no other step builds on; each holds the work of the steps before it):`,
    ...input.sinks.map((s) => `- "${s.name}" (commit ${s.commit.slice(0, 10)})`),
    ``,
    `It is pushed as the branch \`${input.resultBranch}\`.${input.check ? ` Before that it must pass the directive's check: \`${input.check}\` (run it yourself once the merge is done).` : ""}`,
    ``,
    `# Rules`,
    `- Your one job is the merge: keep the work of every step. Do not start new work, and do not drop a step's changes to make a conflict go away.`,
    `- Stay inside this worktree; do not push, and do not change other branches.`,
    ``,
  ].join("\n");
  return withConflictSection(body, input.conflict, INTEGRATION_CONFLICT_WORDS);
}
