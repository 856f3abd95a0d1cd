/*
 * A real graphile-worker runner with Baton's task list, on a test database.
 */
import { after } from "node:test";
import type { Runner } from "graphile-worker";
import { createLogger, silentLogger } from "../../src/logger";
import { createPool } from "../../src/db/pool";
import { startWorker } from "../../src/worker";
import type { TestDb } from "./db";

export async function startTestWorker(db: TestDb, opts: { concurrency?: number } = {}): Promise<Runner> {
  const logger = process.env.BATON_TEST_LOG ? createLogger("debug") : silentLogger;
  const pool = createPool(db.url, logger, (opts.concurrency ?? 4) + 4);
  const runner = await startWorker(pool, { concurrency: opts.concurrency ?? 4, logger });
  let stopped = false;
  const stopRunner = runner.stop.bind(runner);
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopRunner().catch(() => undefined);
    await pool.end().catch(() => undefined);
  };
  after(stop);
  runner.stop = stop;
  return runner;
}
