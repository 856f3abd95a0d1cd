/*
 * The graphile-worker runner, inside `baton server` or alone as `baton worker`, on the shared pool.
 */
import type { Runner } from "graphile-worker";
import type { Pool } from "pg";
import type { Logger } from "./logger";
import { buildTaskList, CRONTAB } from "./tasks";

export async function startWorker(pool: Pool, opts: { concurrency: number; logger: Logger }): Promise<Runner> {
  const { run, Logger: WorkerLogger } = await import("graphile-worker");
  const logger = opts.logger.child({ component: "worker" });
  const workerLogger = new WorkerLogger((scope) => (level, message, meta) => {
    const fields = { ...(scope as Record<string, unknown>), ...(meta as Record<string, unknown> | undefined) };
    if (level === "error") logger.error(message, fields);
    else if (level === "warning") logger.warn(message, fields);
    else logger.debug(message, fields);
  });
  return run({
    pgPool: pool,
    concurrency: opts.concurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    taskList: buildTaskList({ logger }),
    crontab: CRONTAB,
    logger: workerLogger,
  });
}
