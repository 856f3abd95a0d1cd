/*
 * Baton's status vocabularies, the one TypeScript copy. The database is the authority (each table's
 * `status_is_valid` CHECK constraint, CONTRACT.md); test/statuses.test.ts fails when these lists and
 * the migrated schema disagree. The CLI, the daemon and the metrics import them from here.
 *
 * GraphQL still exposes every `status` as String, so generated operation types say `string`; the
 * guards below narrow such a value to its vocabulary. Once the statuses are PostgreSQL enums,
 * PostGraphile exposes them as GraphQL enums, graphql-codegen (with `enumsAsConst`) generates these
 * lists, and this module re-exports them instead of spelling them out.
 */

export const DIRECTIVE_STATUSES = ["draft", "active", "paused", "idle", "archived"] as const;
export const STEP_STATUSES = ["pending", "ready", "running", "completed", "failed", "skipped", "blocked"] as const;
export const TASK_STATUSES = ["pending", "starting", "running", "completed", "failed", "interrupted", "cancelled"] as const;
export const DAEMON_STATUSES = ["connected", "disconnected"] as const;

export type DirectiveStatus = (typeof DIRECTIVE_STATUSES)[number];
export type StepStatus = (typeof STEP_STATUSES)[number];
export type TaskStatus = (typeof TASK_STATUSES)[number];
export type DaemonStatus = (typeof DAEMON_STATUSES)[number];

/** Per table, as the metrics label them. */
export const STATUSES = { directives: DIRECTIVE_STATUSES, steps: STEP_STATUSES, tasks: TASK_STATUSES, daemons: DAEMON_STATUSES } as const;

/** Steps that will not move again without a person (or a re-plan): what `watch` counts as settled. */
export const SETTLED_STEP_STATUSES: readonly StepStatus[] = ["completed", "skipped", "failed", "blocked"];
/** Steps that stop a directive from succeeding. */
export const BAD_STEP_STATUSES: readonly StepStatus[] = ["failed", "blocked"];
/** Steps whose current task's error is still worth showing. */
export const RETRYABLE_STEP_STATUSES: readonly StepStatus[] = ["failed", "blocked", "ready"];
/** Tasks not finished yet: waiting for a daemon, assigned, or running. */
export const LIVE_TASK_STATUSES: readonly TaskStatus[] = ["pending", "starting", "running"];
/** What a daemon reports when an agent process ends. */
export type TaskOutcome = Extract<TaskStatus, "completed" | "failed" | "interrupted">;

/** True when `status` (a GraphQL String) is one of `among`. */
export function statusIn<S extends string>(status: string, among: readonly S[]): status is S {
  return (among as readonly string[]).includes(status);
}
