/*
 * The graphile-worker runner, inside `baton server` or alone as `baton worker`, on the shared pool.
 */
import { EventEmitter } from "node:events";
import type { Runner, RunnerOptions, WorkerEvents } from "graphile-worker";
import type { Pool } from "pg";
import type { Logger } from "./logger";
import { buildTaskList, CRONTAB } from "./tasks";

/**
 * `cron: false` runs without the crontab (the minute's reconcile): tests of the event path use it.
 * `sweepMs` (BATON_SWEEP_MS): how often expired daemons are disconnected and their tasks interrupted,
 * tasks past their timeout or stall limit are interrupted, and questions past their timeout expire.
 * The crontab's granularity is a minute, far longer than a 30 s lease or a short stall limit, so these
 * have their own short sweep (baton.expire_daemons, expire_tasks and expire_questions are idempotent
 * and cheap; every worker process may run them). Separate statements, not one: each takes directive
 * locks in id order, and one transaction taking two ordered sequences could deadlock with another.
 *
 * The runner is supervised: graphile-worker 0.18 shuts its worker pool down for good when it cannot
 * record a job's completion ("Could not completeJobs; queue is in an inconsistent state; aborting":
 * its batch retry loop gives up at the first error), which a PostgreSQL restart causes. It expects a
 * process supervisor to start a new process; inside `baton server` the API would go on without a
 * worker and nothing would be dispatched again. So a runner that stops without being asked is
 * replaced by a new one (with backoff while the database is away), and the returned Runner's stop()
 * and addJob() act on whichever runner is current. Found by test/faults/postgres_restart.
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
  // The ids of this runner's worker pools: the jobs they hold are released at stop (below).
  const poolIds = new Set<string>();
  const events = new EventEmitter() as WorkerEvents;
  events.on("pool:create", ({ workerPool }) => poolIds.add(workerPool.id));
  const options: RunnerOptions = {
    pgPool: pool,
    events,
    concurrency: opts.concurrency,
    noHandleSignals: true,
    // Job completions are not batched (graphile-worker's default). A batch deletes several finished
    // jobs in one statement, in completion order, while a transaction that queues jobs under shared
    // keys (dispatch_steps:<directive>, dispatch_pending:<owner>:<daemon>) clears the keys of running
    // jobs in its own order: the two deadlocked, and a failed batch aborts the whole worker pool. The
    // cost: runner.stop() does not await a completion in flight, so a job finishing during shutdown may
    // stay locked (graphile-worker re-runs it after 4 hours; every job is idempotent). Its key does not
    // hold anything back: queueing under a key whose job is locked moves the key to a new job.
    // Unbatched, graphile-worker 0.18 does not await a completion at all: patches/ makes a failed one
    // a logged error instead of an unhandled rejection that ended the process.
    pollInterval: 1000,
    taskList: buildTaskList({ logger }),
    ...(opts.cron === false ? { parsedCronItems: [] } : { crontab: CRONTAB }),
    logger: workerLogger,
  };
  const start = async (): Promise<Runner> => {
    const r = await run(options);
    if (opts.cron !== false) {
      // The crontab's first tick, now rather than at the next minute boundary. A worker killed with
      // SIGKILL (or a pool that aborted) leaves its running jobs locked for 4 hours; a dispatch_step
      // among them strands its step (ready, no task) until reconcile re-enqueues it, which a job key
      // in replace mode allows while the old job is locked. Measured in test/faults/server_killed:
      // 0-5 stranded steps per kill, each waiting up to a minute for the crontab after the restart.
      await r.addJob("reconcile", {}, { jobKey: "reconcile", jobKeyMode: "replace" }).catch((err: Error) =>
        logger.warn("could not queue the first reconcile; the crontab will run it", { error: err.message }),
      );
    }
    return r;
  };

  const runner = await start();
  let current = { stop: runner.stop.bind(runner), addJob: runner.addJob.bind(runner) };
  let stopped = false;
  let currentEnded = false;
  const supervise = (r: Runner) => {
    void r.promise
      .catch(() => undefined)
      .then(async () => {
        if (stopped) return;
        currentEnded = true;
        logger.error("the worker stopped on its own (graphile-worker aborts its pool when it loses the database mid-job); starting a new one");
        for (let delay = 500; !stopped; delay = Math.min(delay * 2, 10_000)) {
          await new Promise((resolve) => setTimeout(resolve, delay));
          if (stopped) return;
          try {
            const next = await start();
            if (stopped) return void (await next.stop().catch(() => undefined));
            current = { stop: next.stop.bind(next), addJob: next.addJob.bind(next) };
            currentEnded = false;
            supervise(next);
            logger.warn("worker restarted");
            return;
          } catch (err) {
            logger.warn("the worker could not start yet; retrying", { error: (err as Error).message, retry_in_ms: delay * 2 });
          }
        }
      });
  };
  supervise(runner);

  const sweep = setInterval(() => {
    pool.query<{ expired: number }>("select baton.expire_daemons() as expired").then(
      (r) => r.rows[0]!.expired > 0 && logger.info("expired daemons disconnected", { count: r.rows[0]!.expired }),
      (err: Error) => logger.warn("daemon sweep failed", { error: err.message }),
    );
    pool.query<{ expired: number }>("select baton.expire_questions() as expired").then(
      (r) => r.rows[0]!.expired > 0 && logger.info("questions past their timeout expired", { count: r.rows[0]!.expired }),
      (err: Error) => logger.warn("question sweep failed", { error: err.message }),
    );
    pool.query<{ interrupted: number }>("select baton.expire_tasks() as interrupted").then(
      (r) => r.rows[0]!.interrupted > 0 && logger.info("tasks past their timeout or stall limit interrupted", { count: r.rows[0]!.interrupted }),
      (err: Error) => logger.warn("timeout sweep failed", { error: err.message }),
    );
  }, opts.sweepMs ?? 5000);
  sweep.unref();
  runner.addJob = (...args) => current.addJob(...args);
  runner.stop = async () => {
    stopped = true;
    clearInterval(sweep);
    if (!currentEnded) await current.stop();
    await releaseJobs(pool, [...poolIds], logger);
  };
  return runner;
}

/**
 * After a stop: a completion sent just before it (not awaited by graphile-worker when unbatched)
 * usually lands within milliseconds; wait for that, up to 3 s, then unlock whatever these pools still
 * hold, so another worker runs it now rather than in 4 hours (every job is idempotent).
 */
async function releaseJobs(pool: Pool, poolIds: string[], logger: Logger): Promise<void> {
  if (poolIds.length === 0) return;
  const held = async () =>
    (await pool.query<{ n: number }>("select count(*)::int as n from graphile_worker._private_jobs where locked_by = any ($1)", [poolIds])).rows[0]!.n;
  try {
    const deadline = Date.now() + 3000;
    while ((await held()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if ((await held()) > 0) {
      await pool.query("select graphile_worker.force_unlock_workers($1::text[])", [poolIds]);
      logger.warn("released jobs the stopped worker still held", { pools: poolIds });
    }
  } catch (err) {
    logger.warn("could not release the stopped worker's jobs; graphile-worker unlocks them after 4 hours", { error: (err as Error).message });
  }
}
