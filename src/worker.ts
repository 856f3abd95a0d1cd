/*
 * The graphile-worker runner, inside `baton server` or alone as `baton worker`, on the shared pool.
 */
import type { Runner } from "graphile-worker";
import type { Pool } from "pg";
import type { Logger } from "./logger";
import { buildTaskList, CRONTAB } from "./tasks";

/**
 * `cron: false` runs without the crontab (the minute's reconcile): tests of the event path use it.
 * `sweepMs`: how often expired daemons are disconnected and their tasks interrupted. The crontab's
 * granularity is a minute, far longer than a 30 s lease, so liveness has its own short sweep
 * (baton.expire_daemons is idempotent and cheap; every worker process may run it).
 */
export async function startWorker(pool: Pool, opts: { concurrency: number; logger: Logger; cron?: boolean; sweepMs?: number }): Promise<Runner> {
  const { run, Logger: WorkerLogger } = await import("graphile-worker");
  const logger = opts.logger.child({ component: "worker" });
  const workerLogger = new WorkerLogger((scope) => (level, message, meta) => {
    const fields = { ...(scope as Record<string, unknown>), ...(meta as Record<string, unknown> | undefined) };
    if (level === "error") logger.error(message, fields);
    else if (level === "warning") logger.warn(message, fields);
    else logger.debug(message, fields);
  });
  const runner = await run({
    pgPool: pool,
    concurrency: opts.concurrency,
    noHandleSignals: true,
    // Job completions go through graphile-worker's batcher (delay 0: no added latency), because only
    // batched completions are awaited by runner.stop(). Unbatched, a job finishing during shutdown has
    // its completion fired and forgotten; pool.end() then drops it, and the job stays locked for 4
    // hours, its job key holding back a re-enqueue of that step's dispatch until then.
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    pollInterval: 1000,
    taskList: buildTaskList({ logger }),
    ...(opts.cron === false ? { parsedCronItems: [] } : { crontab: CRONTAB }),
    logger: workerLogger,
  });
  const sweep = setInterval(() => {
    pool.query<{ expired: number }>("select baton.expire_daemons() as expired").then(
      (r) => r.rows[0]!.expired > 0 && logger.info("expired daemons disconnected", { count: r.rows[0]!.expired }),
      (err: Error) => logger.warn("daemon sweep failed", { error: err.message }),
    );
  }, opts.sweepMs ?? 5000);
  sweep.unref();
  const stop = runner.stop.bind(runner);
  runner.stop = async () => {
    clearInterval(sweep);
    await stop();
  };
  return runner;
}
