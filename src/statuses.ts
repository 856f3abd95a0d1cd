/*
 * Baton's status vocabularies. The database is the authority: each status column is a PostgreSQL enum
 * (baton.directive_status, step_status, task_status, daemon_status), PostGraphile exposes it as a
 * GraphQL enum, and graphql-codegen generates its values into src/client/generated/graphql.ts. The
 * lists below only put those values in the database's order (for messages and tables): a list that
 * misses a generated value or names an unknown one fails the type-check, and test/statuses.test.ts
 * checks the order against pg_enum. The CLI, the daemon and the metrics import them from here.
 */
import {
  DaemonStatus as DaemonStatusEnum,
  DirectiveStatus as DirectiveStatusEnum,
  PlanProposalStatus as PlanProposalStatusEnum,
  StepStatus as StepStatusEnum,
  TaskStatus as TaskStatusEnum,
} from "./client/generated/graphql";

export type DirectiveStatus = (typeof DirectiveStatusEnum)[keyof typeof DirectiveStatusEnum];
export type StepStatus = (typeof StepStatusEnum)[keyof typeof StepStatusEnum];
export type TaskStatus = (typeof TaskStatusEnum)[keyof typeof TaskStatusEnum];
export type DaemonStatus = (typeof DaemonStatusEnum)[keyof typeof DaemonStatusEnum];

/** Every value of a generated enum, in the order given; a missing value is a type error naming it. */
function allOf<E extends Record<string, string>>(_generated: E) {
  return <const L extends readonly E[keyof E][]>(
    ...list: L & (Exclude<E[keyof E], L[number]> extends never ? unknown : { missing: Exclude<E[keyof E], L[number]> })
  ): L => list;
}

export const DIRECTIVE_STATUSES = allOf(DirectiveStatusEnum)("draft", "active", "paused", "idle", "archived");
export const STEP_STATUSES = allOf(StepStatusEnum)("pending", "ready", "running", "completed", "failed", "skipped", "blocked");
export const TASK_STATUSES = allOf(TaskStatusEnum)("pending", "starting", "running", "waiting", "checking", "completed", "failed", "interrupted", "cancelled");
export const DAEMON_STATUSES = allOf(DaemonStatusEnum)("connected", "disconnected");

/** Per table, as the metrics label them. */
export const STATUSES = { directives: DIRECTIVE_STATUSES, steps: STEP_STATUSES, tasks: TASK_STATUSES, daemons: DAEMON_STATUSES } as const;

/** Steps that will not move again without a person (or a re-plan): what `watch` counts as settled. */
export const SETTLED_STEP_STATUSES: readonly StepStatus[] = ["completed", "skipped", "failed", "blocked"];
/** Steps that stop a directive from succeeding. */
export const BAD_STEP_STATUSES: readonly StepStatus[] = ["failed", "blocked"];
/** Steps whose current task's error is still worth showing. */
export const RETRYABLE_STEP_STATUSES: readonly StepStatus[] = ["failed", "blocked", "ready"];
/** Tasks not finished yet: waiting for a daemon, assigned, running, waiting for an answer (`baton ask`), or running their check. */
export const LIVE_TASK_STATUSES: readonly TaskStatus[] = ["pending", "starting", "running", "waiting", "checking"];
/** Plan proposals still open (sql/000024): being written by their planner, or waiting for review. */
export const OPEN_PLAN_STATUSES: readonly (typeof PlanProposalStatusEnum)[keyof typeof PlanProposalStatusEnum][] = ["drafting", "proposed"];
/** What a daemon reports when an agent process ends. */
export type TaskOutcome = Extract<TaskStatus, "completed" | "failed" | "interrupted">;

/** True when `status` is one of `among` (narrows a status, or a plain string such as a CLI option). */
export function statusIn<S extends string>(status: string, among: readonly S[]): status is S {
  return (among as readonly string[]).includes(status);
}
