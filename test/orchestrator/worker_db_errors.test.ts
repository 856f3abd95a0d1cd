/*
 * The worker outlives a database error while it records a job's outcome. graphile-worker 0.18, with
 * unbatched completions (src/worker.ts says why Baton uses them), calls completeJob/failJob without
 * awaiting them: when the database refused the write (a PostgreSQL restart, in
 * test/faults/postgres_restart) the promise rejected unhandled and Node ended `baton server`.
 * patches/graphile-worker+0.18.0.patch logs the error instead; the job stays locked and is re-run.
 *
 * A trigger refuses the DELETE that records one job's success, and the UPDATE that records another's
 * failure: deterministic, where the fault test hits it only when a stop falls inside a completion.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Logger, LogFields } from "../../src/logger";
import { createPool } from "../../src/db/pool";
import { startWorker } from "../../src/worker";
import { useTestDatabase } from "../helpers/db";
import { waitFor } from "../helpers/wait";

const db = useTestDatabase();

function capturingLogger(lines: { msg: string; fields?: LogFields }[]): Logger {
  const log = (msg: string, fields?: LogFields) => void lines.push({ msg, fields });
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
  return logger;
}

describe("graphile-worker cannot record a job's outcome", () => {
  it("logs the error, keeps the process and its worker running, and leaves the job locked to be re-run", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    after(() => void process.off("unhandledRejection", onUnhandled));

    await db.pool.query(`
      create function public.refuse_job_outcome() returns trigger language plpgsql as $$
      begin
        if old.key = 'refused-success' and tg_op = 'DELETE' then raise exception 'completion refused by the test'; end if;
        if old.key = 'refused-failure' and tg_op = 'UPDATE' and new.locked_by is null then raise exception 'failure refused by the test'; end if;
        return case tg_op when 'DELETE' then old else new end;
      end $$;
      create trigger refuse_job_outcome before update or delete on graphile_worker._private_jobs
        for each row execute function public.refuse_job_outcome();`);

    const lines: { msg: string; fields?: LogFields }[] = [];
    const logger = capturingLogger(lines);
    const pool = createPool(db.url, logger, 8);
    const runner = await startWorker(pool, { concurrency: 2, logger, cron: false });
    after(async () => {
      await runner.stop().catch(() => undefined);
      await pool.end();
    });

    // reconcile succeeds on an empty database; deliver_webhook fails, since the function it reads its
    // target with is gone from this throw-away database.
    await db.pool.query("alter function baton_private.webhook_target(uuid) rename to webhook_target_gone");
    const delivery = { webhook_id: "00000000-0000-4000-8000-000000000000", message_id: "msg_1", event: "idle", body: "{}" };
    await runner.addJob("reconcile", {}, { jobKey: "refused-success" });
    await runner.addJob("deliver_webhook", delivery, { jobKey: "refused-failure", maxAttempts: 1 });
    await waitFor(
      () => lines.some((l) => /Failed to record the completion of job/.test(l.msg)) && lines.some((l) => /Failed to record the failure of job/.test(l.msg)),
      { timeoutMs: 30_000, what: "the worker to log both refused outcomes" },
    );
    assert.deepEqual(unhandled, [], "no promise rejected unhandled");

    const held = await db.pool.query<{ key: string; locked: boolean }>(
      "select key, locked_by is not null as locked from graphile_worker._private_jobs where key like 'refused-%' order by key",
    );
    assert.deepEqual(held.rows, [
      { key: "refused-failure", locked: true },
      { key: "refused-success", locked: true },
    ]);

    // The same worker goes on running jobs.
    await runner.addJob("reconcile", {}, { jobKey: "after" });
    await waitFor(async () => (await db.pool.query("select 1 from graphile_worker._private_jobs where key = 'after'")).rowCount === 0, {
      timeoutMs: 30_000,
      what: "a later job to complete",
    });
    assert.deepEqual(unhandled, []);
  });
});
