/** GraphQL selections shared by the CLI commands. */
export const DIRECTIVE_FIELDS = `rowId title goal repo baseBranch status goalRevision plannedRevision currentGeneration openSteps createdAt updatedAt`;
export const STEP_FIELDS = `rowId name description taskPlan status generation orderIndex attempts maxAttempts remainingDeps
  stepDependenciesByStepId { nodes { dependsOnStepId } }
  currentTask { rowId status daemonId branch commitSha error attempt startedAt finishedAt }`;
export const TASK_FIELDS = `rowId kind status attempt stepId daemonId branch commitSha error createdAt startedAt finishedAt daemon { name }`;

export type DirectiveRow = {
  rowId: string; title: string; goal: string; repo: string | null; baseBranch: string; status: string; goalRevision: number;
  plannedRevision: number | null; currentGeneration: number; openSteps: number; createdAt: string; updatedAt: string;
};
export type TaskRow = {
  rowId: string; kind: string; status: string; attempt: number | null; stepId: string | null; daemonId: string | null; branch: string | null;
  commitSha: string | null; error: string | null; createdAt: string; startedAt: string | null; finishedAt: string | null; daemon: { name: string } | null;
};
export type StepRow = {
  rowId: string; name: string; description: string | null; taskPlan: string | null; status: string; generation: number; orderIndex: number;
  attempts: number; maxAttempts: number; remainingDeps: number; stepDependenciesByStepId: { nodes: { dependsOnStepId: string }[] };
  currentTask: { rowId: string; status: string; daemonId: string | null; branch: string | null; commitSha: string | null; error: string | null; attempt: number | null; startedAt: string | null; finishedAt: string | null } | null;
};

/** A step as printed with --json: dependencies flattened to ids. */
export function stepJson(s: StepRow) {
  const { stepDependenciesByStepId, ...rest } = s;
  return { ...rest, dependsOn: stepDependenciesByStepId.nodes.map((n) => n.dependsOnStepId) };
}
