/*
 * A real graphile-worker runner with Baton's task list, on a test database.
 *
 * Without the crontab by default: the minute's reconcile would hide a lost event (a test that passes
 * only because a cron tick happened to fall inside it proves nothing about the event path). Pass
 * `cron: true` for the production crontab.
 */
import { after, before } from "node:test";
import type { Runner } from "graphile-worker";
import { createLogger, silentLogger } from "../../src/logger";
import { createPool } from "../../src/db/pool";
import { startWorker } from "../../src/worker";
import type { TestDb } from "./db";
import { waitFor } from "./wait";

type WorkerOptions = { concurrency?: number; cron?: boolean };

/** Starts a runner; its `stop` also ends its pool and may be called twice. */
export async function createTestWorker(db: TestDb, opts: WorkerOptions = {}): Promise<Runner> {
  const logger = process.env.BATON_TEST_LOG ? createLogger("debug") : silentLogger;
  const pool = createPool(db.url, logger, (opts.concurrency ?? 4) + 4);
  const runner = await startWorker(pool, { concurrency: opts.concurrency ?? 4, logger, cron: opts.cron ?? false });
  let stopped = false;
  const stopRunner = runner.stop.bind(runner);
  runner.stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopRunner().catch(() => undefined);
    await pool.end().catch(() => undefined);
  };
  return runner;
}

/** Inside a test: a runner stopped when the test ends. */
export async function startTestWorker(db: TestDb, opts: WorkerOptions = {}): Promise<Runner> {
  const runner = await createTestWorker(db, opts);
  after(() => runner.stop());
  return runner;
}

/** At the top of a file or suite: one runner for all its tests. */
export function useTestWorker(db: TestDb, opts: WorkerOptions = {}): void {
  let runner: Runner | undefined;
  before(async () => {
    runner = await createTestWorker(db, opts);
  });
  after(async () => runner?.stop());
}

/**
 * Waits until no graphile-worker job is queued or running, so everything the event path started is
 * over. A job that failed (it would be retried later) fails the wait at once, with its error: in these
 * tests no job should ever fail.
 */
export async function waitForQuietQueue(db: TestDb): Promise<void> {
  type Job = { task_identifier: string; key: string | null; last_error: string | null; locked_by: string | null };
  let last: Job[] = [];
  let failed: Job | undefined;
  await waitFor(
    async () => {
      last = (await db.pool.query<Job>("select task_identifier, key, last_error, locked_by from graphile_worker.jobs order by id")).rows;
      failed = last.find((j) => j.last_error !== null);
      return failed !== undefined || last.length === 0;
    },
    { what: "the job queue to drain" },
  ).catch(async (err: Error) => {
    const activity = await db.pool.query(
      "select pid, state, wait_event_type, wait_event, left(query, 200) as query from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
    );
    throw new Error(`${err.message}; jobs left: ${JSON.stringify(last)}; sessions: ${JSON.stringify(activity.rows)}`);
  });
  if (failed) throw new Error(`job ${failed.task_identifier} (${failed.key}) failed: ${failed.last_error}`);
}
