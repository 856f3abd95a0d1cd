/*
 * defineTask: a graphile-worker task whose payload is checked with zod. Payloads carry ids only; each
 * task re-reads state through SQL and returns quietly when its work is no longer relevant, so running
 * one twice is harmless.
 */
import type { JobHelpers, Task } from "graphile-worker";
import type { PoolClient } from "pg";
import type { z } from "zod";
import type { Logger } from "../logger";

export type TaskContext = {
  /** Runs fn with a client from the worker's pool. */
  withClient: <T>(fn: (client: PoolClient) => Promise<T>) => Promise<T>;
  logger: Logger;
  helpers: JobHelpers;
};

export type TaskDeps = { logger: Logger };

export function defineTask<S extends z.ZodType>(
  schema: S,
  body: (payload: z.infer<S>, ctx: TaskContext) => Promise<void>,
): (deps: TaskDeps) => Task {
  return (deps) => async (raw, helpers) => {
    const parsed = schema.safeParse(raw);
    const logger = deps.logger.child({ task: helpers.job.task_identifier, job_id: helpers.job.id });
    if (!parsed.success) {
      // A malformed payload never becomes valid by retrying: log it and drop the job.
      logger.error("dropping a job with an invalid payload", { payload: raw, issue: parsed.error.issues[0]?.message });
      return;
    }
    const withClient = <T>(fn: (client: PoolClient) => Promise<T>) => helpers.withPgClient((c) => fn(c as PoolClient));
    // A batched job's payload is an array (graphile-worker appends to it): log its size, not its items.
    const fields = Array.isArray(parsed.data) ? { items: parsed.data.length } : (parsed.data as Record<string, unknown>);
    await body(parsed.data, { withClient, logger: logger.child(fields), helpers });
  };
}

/**
 * Whether err is a database error with this errcode. A task that re-checked state and then lost a
 * race (the directive was paused, the step completed by hand) gets BTSTS from the SQL function; the
 * work is no longer relevant, so it returns quietly instead of failing and being retried.
 */
export function isDbError(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}
