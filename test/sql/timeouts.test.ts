/*
 * Timeouts, stalls and cancel (sql/000019_timeouts.sql): the sweep baton.expire_tasks interrupts
 * running tasks past their timeout or stall limit, in one statement, with the reason as their error;
 * the state machine retries their steps. cancel_task and pause_directive(interrupt) stop attempts by
 * hand. Time is passed to the sweep (`now`), so nothing waits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, inSavepoint, useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, createOwner, directive, jobs, step } from "../helpers/fixtures";
import { chain, jobsWithPayload, q, setup, startStep, task } from "./support";

const db = useTestDatabase();

type Row = { id: string; status: string; error: string | null; version: number };

/** The sweep at now() + `later` (an interval); returns how many tasks it interrupted. */
const sweep = async (c: PoolClient, later: string) => (await q<{ n: number }>(c, "select baton.expire_tasks(now() + $1::interval) as n", [later])).n;

const limits = (c: PoolClient, id: string, timeout: number | null, stall: number | null) =>
  q(c, "select * from baton.set_directive_limits($1, $2, $3)", [id, timeout, stall]);

/** Stores one output chunk for the task, written `at` (an interval after now()). */
async function output(c: PoolClient, taskId: string, at: string, text = "working\n"): Promise<void> {
  await c.query("select baton.append_task_output($1, $2)", [taskId, JSON.stringify([{ stream: "stdout", text }])]);
  await c.query("update baton.task_output set created_at = now() + $2::interval where task_id = $1 and seq = (select max(seq) from baton.task_output where task_id = $1)", [taskId, at]);
}

const asOwner = (c: PoolClient, owner: string) =>
  c.query("select set_config('baton.owner_id', $1, true), set_config('baton.token_gen', '0', true), set_config('role', 'baton_user', true)", [owner]);

describe("durations", () => {
  it("reads 90s, 30m, 2h, 1h30m, 1d and plain seconds, and nothing else", () =>
    withRootDb(db, async (c) => {
      const r = await c.query<{ v: string; s: string | null }>(
        `select v, baton_private.try_duration_seconds(v)::text as s
           from unnest(array['90s', '30m', '2h', '1h30m', '1d', '45', ' 1H 5S ', 'banana', '', '1.5h', '-5s', '30 minutes', 'm']) v`,
      );
      assert.deepEqual(Object.fromEntries(r.rows.map((x) => [x.v, x.s])), {
        "90s": "90", "30m": "1800", "2h": "7200", "1h30m": "5400", "1d": "86400", "45": "45", " 1H 5S ": "3605",
        banana: null, "": null, "1.5h": null, "-5s": null, "30 minutes": null, m: null,
      });
    }));

  it("shows seconds as the largest units: 1m30s, 30m, 1d2h, 2s", () =>
    withRootDb(db, async (c) => {
      const r = await c.query<{ f: string[] }>("select array_agg(baton_private.format_duration(s) order by o) as f from unnest(array[90, 1800, 93600, 2, 0]) with ordinality x(s, o)");
      assert.deepEqual(r.rows[0]!.f, ["1m30s", "30m", "1d2h", "2s", "0s"]);
    }));
});

describe("limits on directives and steps", () => {
  it("create_directive and set_directive_limits set them; null leaves one, 0 removes it", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      const d = await q<{ id: string; timeout_seconds: number | null; stall_seconds: number | null }>(
        c,
        "select * from baton.create_directive(title => 'T', goal => 'G', owner_id => $1, timeout_seconds => 1800, stall_seconds => 300)",
        [owner],
      );
      assert.deepEqual([d.timeout_seconds, d.stall_seconds], [1800, 300]);
      assert.deepEqual(Object.values(await q(c, "select timeout_seconds, stall_seconds from baton.set_directive_limits($1, null, 60)", [d.id])), [1800, 60]);
      assert.deepEqual(Object.values(await q(c, "select timeout_seconds, stall_seconds from baton.set_directive_limits($1, 0, null)", [d.id])), [null, 60]);
    }));

  it("refuses a limit out of range, naming it (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        inSavepoint(c, () => limits(c, d.id, -5, null)),
        "BTINV",
        "The timeout must be between 1 second and 30 days (2592000 seconds), or 0 to remove it; got -5.",
      );
      await assertDbError(
        inSavepoint(c, () => c.query("select baton.create_directive(title => 'T', goal => 'G', owner_id => $1, stall_seconds => 0)", [d.owner_id])),
        "BTINV",
        "The stall limit must be between 1 second and 30 days (2592000 seconds); got 0.",
      );
    }));

  it("batch_add_steps reads timeout and stall as durations or seconds; add_step as seconds", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [], { start: false });
      const r = await c.query<{ name: string; timeout_seconds: number | null; stall_seconds: number | null }>(
        "select name, timeout_seconds, stall_seconds from baton.batch_add_steps($1, $2)",
        [d.id, JSON.stringify([{ name: "a", timeout: "1h30m", stall: 90 }, { name: "b", timeout: null }, { name: "c", stall: "5m" }])],
      );
      assert.deepEqual(r.rows.map((s) => [s.name, s.timeout_seconds, s.stall_seconds]), [["a", 5400, 90], ["b", null, null], ["c", null, 300]]);
      const one = await q(c, "select timeout_seconds, stall_seconds from baton.add_step($1, 'd', timeout_seconds => 120, stall_seconds => 30)", [d.id]);
      assert.deepEqual(Object.values(one), [120, 30]);
    }));

  it("batch_add_steps rejects a bad timeout or stall with the entry, the field and what it must be", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [], { start: false });
      const bad = (entries: unknown[]) => inSavepoint(c, () => c.query("select baton.batch_add_steps($1, $2)", [d.id, JSON.stringify(entries)]));
      await assertDbError(
        bad([{ name: "a" }, { name: "b", timeout: "banana" }]),
        "BTINV",
        'Entry 2 has an invalid "timeout": it must be a duration such as "90s", "30m", "2h" or "1h30m" (or a number of seconds), from 1 second to 30 days.',
      );
      for (const stall of [0, 1.5, "31d", true]) {
        await assertDbError(bad([{ name: "a", stall }]), "BTINV", /^Entry 1 has an invalid "stall": it must be a duration/);
      }
      await assertDbError(
        bad([{ name: "a", timeuot: "5m" }]),
        "BTINV",
        'Entry 1 has an unknown field "timeuot"; the fields are key, name, description, taskPlan, dependsOn, orderIndex, check, timeout and stall.',
      );
      assert.equal((await q<{ n: number }>(c, "select count(*)::int as n from baton.directive_steps where directive_id = $1", [d.id])).n, 0);
    }));
});

describe("baton.expire_tasks (the sweep)", () => {
  it("interrupts a running task past its directive's timeout with the reason, and its step is ready again", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await limits(c, d.id, 1800, null);
      const t = await startStep(c, s.a!.id);
      assert.equal(await sweep(c, "29 minutes 59 seconds"), 0);
      assert.equal((await task(c, t.id)).status, "running");
      assert.equal(await sweep(c, "30 minutes"), 1);
      const after = await task(c, t.id);
      assert.deepEqual([after.status, after.error], ["interrupted", "Timed out after 30m (the directive's timeout)."]);
      const a = await step(c, s.a!.id);
      assert.deepEqual([a.status, a.attempts], ["ready", 1]);
      assert.ok((await jobsWithPayload(c, "dispatch_step")).some((j) => j.payload.step_id === s.a!.id), "the retry is queued");
      assert.equal(await sweep(c, "1 hour"), 0, "idempotent");
    }));

  it("uses a step's own limit over its directive's", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [], { start: false });
      const s = await addSteps(c, d.id, [{ name: "long", timeout: "2h" } as never]);
      await limits(c, d.id, 1800, null);
      await c.query("select baton.start_directive($1)", [d.id]);
      const t = await startStep(c, s.long!.id);
      assert.equal(await sweep(c, "1 hour"), 0);
      assert.equal(await sweep(c, "2 hours"), 1);
      assert.equal((await task(c, t.id)).error, "Timed out after 2h (the step's timeout).");
    }));

  it("counts a stall from the last output chunk, or from the start when there is none", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "quiet" }, { name: "chatty" }]);
      await limits(c, d.id, null, 300);
      const quiet = await startStep(c, s.quiet!.id);
      const chatty = await startStep(c, s.chatty!.id);
      await output(c, chatty.id, "4 minutes");
      assert.equal(await sweep(c, "5 minutes"), 1);
      assert.deepEqual([(await task(c, quiet.id)).status, (await task(c, quiet.id)).error], ["interrupted", "Stalled: no output for 5m (the directive's stall limit)."]);
      assert.equal((await task(c, chatty.id)).status, "running", "its last output is 1 minute old");
      assert.equal(await sweep(c, "8 minutes 59 seconds"), 0);
      assert.equal(await sweep(c, "9 minutes"), 1);
      assert.equal((await task(c, chatty.id)).error, "Stalled: no output for 5m (the directive's stall limit).");
    }));

  it("never counts a task whose output reached the cap as stalled, but still times it out", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "loud" }]);
      await limits(c, d.id, 7200, 300);
      const t = await startStep(c, s.loud!.id);
      const big = "x".repeat(262144);
      for (let i = 0; i < 5; i++) await c.query("select baton.append_task_output($1, $2)", [t.id, JSON.stringify([{ stream: "stdout", text: big }])]);
      assert.equal((await q<{ stream: string }>(c, "select stream from baton.task_output where task_id = $1 order by seq desc limit 1", [t.id])).stream, "baton");
      assert.equal(await sweep(c, "1 hour"), 0);
      assert.equal(await sweep(c, "2 hours"), 1);
      assert.equal((await task(c, t.id)).error, "Timed out after 2h (the directive's timeout).");
    }));

  it("fails the step when the attempt that timed out was its last", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await limits(c, d.id, 60, null);
      await startStep(c, s.a!.id);
      assert.equal(await sweep(c, "1 minute"), 1);
      await startStep(c, s.a!.id);
      assert.equal(await sweep(c, "1 minute"), 1);
      assert.deepEqual([(await step(c, s.a!.id)).status, (await step(c, s.b!.id)).status], ["failed", "blocked"]);
    }));

  it("pauses the directive when its planner times out (as for any planner that did not complete)", () =>
    withRootDb(db, async (c) => {
      const { d, owner } = await setup(c, [], { start: false });
      await limits(c, d.id, 600, null);
      await c.query("select baton.start_directive($1)", [d.id]);
      await q(c, "select * from baton.register_daemon(name => 'p', max_tasks => 2, owner_id => $1)", [owner]);
      const planner = await q<Row>(c, "select * from baton.create_planning_task($1, 'plan it')", [d.id]);
      await c.query("select baton.report_task_status($1, 'running')", [planner.id]);
      assert.equal(await sweep(c, "10 minutes"), 1);
      assert.equal((await task(c, planner.id)).error, "Timed out after 10m (the directive's timeout).");
      assert.equal((await directive(c, d.id)).status, "paused");
    }));

  it("interrupts every overdue task of every directive in one call, and touches nothing else", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      const one = await setup(c, [{ name: "late1" }, { name: "late2" }, { name: "fresh" }, { name: "done" }, { name: "waiting" }], { owner });
      const two = await setup(c, [{ name: "late3" }, { name: "free" }], { owner });
      await limits(c, one.d.id, 600, null);
      await c.query("update baton.directive_steps set timeout_seconds = 3600 where id = $1", [one.s.fresh!.id]);
      await c.query("update baton.directive_steps set stall_seconds = 60 where id = $1", [two.s.late3!.id]);
      const late = [await startStep(c, one.s.late1!.id), await startStep(c, one.s.late2!.id), await startStep(c, two.s.late3!.id)];
      const spared = [await startStep(c, one.s.fresh!.id), await startStep(c, two.s.free!.id)];
      const done = await startStep(c, one.s.done!.id);
      await c.query("select baton.report_task_status($1, 'completed')", [done.id]);
      // A task still `starting` has not started its clock.
      await c.query("update baton.daemons set max_tasks = 100");
      const starting = await q<Row>(c, "select * from baton.create_execution_task($1, 'p')", [one.s.waiting!.id]);
      assert.equal(starting.status, "starting");
      const before = await c.query<Row>("select id, status, error, version from baton.tasks where id = any ($1) order by id", [[...spared, done, starting].map((t) => t.id)]);

      assert.equal(await sweep(c, "10 minutes"), 3);
      const interrupted = await c.query<Row>("select id, status, error from baton.tasks where id = any ($1) order by id", [late.map((t) => t.id)]);
      assert.deepEqual(
        interrupted.rows.map((t) => [t.id, t.status, t.error]),
        late
          .map((t) => t.id)
          .sort()
          .map((id) => [id, "interrupted", id === late[2]!.id ? "Stalled: no output for 1m (the step's stall limit)." : "Timed out after 10m (the directive's timeout)."]),
      );
      const afterRows = await c.query<Row>("select id, status, error, version from baton.tasks where id = any ($1) order by id", [before.rows.map((t) => t.id)]);
      assert.deepEqual(afterRows.rows, before.rows, "other tasks are untouched");
    }));
});

describe("the sweep's cost", () => {
  it("reads the running tasks through an index, never the finished history", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await limits(c, d.id, 60, 60);
      // A long history: 3,000 finished planning tasks.
      await c.query(
        `insert into baton.tasks (owner_id, directive_id, kind, generation, goal_revision, status, finished_at)
         select $1, $2, 'planning', 1, 1, 'completed', now() from generate_series(1, 3000)`,
        [d.owner_id, d.id],
      );
      await startStep(c, s.a!.id);
      await c.query("analyze baton.tasks");
      const before = await q<{ seq: string }>(c, "select seq_scan as seq from pg_stat_xact_user_tables where relid = 'baton.tasks'::regclass");
      assert.equal(await sweep(c, "2 minutes"), 1);
      const after = await q<{ seq: string }>(c, "select seq_scan as seq from pg_stat_xact_user_tables where relid = 'baton.tasks'::regclass");
      assert.equal(Number(after.seq) - Number(before.seq), 0, "no sequential scan of tasks");
    }));
});

describe("baton.cancel_task", () => {
  it("without retry: the task is cancelled, its attempt given back, and its step failed by hand until retry-step", () =>
    withRootDb(db, async (c) => {
      const { s, owner } = await setup(c, chain("a", "b"));
      const t = await startStep(c, s.a!.id);
      await asOwner(c, owner);
      const r = await q<Row>(c, "select * from baton.cancel_task($1)", [t.id]);
      await c.query("reset role");
      assert.deepEqual([r.status, r.error], ["cancelled", "Cancelled by hand (baton task cancel)."]);
      const a = await step(c, s.a!.id);
      assert.deepEqual([a.status, a.attempts, (await step(c, s.b!.id)).status], ["failed", 0, "blocked"]);
      await c.query("select baton.retry_step($1)", [s.a!.id]);
      assert.equal((await step(c, s.a!.id)).status, "ready");
    }));

  it("with retry: the step is ready again at once and its dispatch is queued", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, chain("a", "b"));
      const t = await startStep(c, s.a!.id);
      await c.query("delete from graphile_worker._private_jobs");
      const r = await q<Row>(c, "select * from baton.cancel_task($1, retry => true)", [t.id]);
      assert.deepEqual([r.status, r.error], ["cancelled", "Cancelled by hand (baton task cancel --retry); the step runs again."]);
      const a = await step(c, s.a!.id);
      assert.deepEqual([a.status, a.attempts], ["ready", 0]);
      assert.ok((await jobsWithPayload(c, "dispatch_step")).some((j) => j.payload.step_id === s.a!.id));
    }));

  it("a cancelled planner pauses its directive; with retry the directive is resumed and planned again", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const first = await q<Row>(c, "select * from baton.create_planning_task($1, 'plan')", [d.id]);
      await c.query("select baton.cancel_task($1)", [first.id]);
      assert.equal((await directive(c, d.id)).status, "paused");
      await c.query("select baton.start_directive($1)", [d.id]);
      const second = await q<Row>(c, "select * from baton.create_planning_task($1, 'plan')", [d.id]);
      await c.query("select baton.cancel_task($1, retry => true)", [second.id]);
      const after = await directive(c, d.id);
      assert.equal(after.status, "active");
      assert.ok((await jobs(c)).some((j) => j.task_identifier === "plan_directive"), "planning is queued");
    }));

  it("refuses a finished task (BTSTS) and another owner's task (BTNFD, as if it did not exist)", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, chain("a"));
      const t = await startStep(c, s.a!.id);
      await c.query("select baton.report_task_status($1, 'completed')", [t.id]);
      await assertDbError(
        inSavepoint(c, () => c.query("select baton.cancel_task($1)", [t.id])),
        "BTSTS",
        `Task ${t.id} is completed, so it cannot be cancelled; only pending, starting, running, waiting or checking tasks can.`,
      );
      const hint = await c.query("savepoint h").then(() => c.query("select baton.cancel_task($1)", [t.id]).catch((e: { hint?: string }) => e.hint));
      await c.query("rollback to savepoint h");
      assert.equal(hint, "Only a live attempt can be stopped; `baton directive status --json` shows each step's current one (currentTask).");
      const mallory = await createOwner(c, "mallory");
      await asOwner(c, mallory);
      await assertDbError(inSavepoint(c, () => c.query("select baton.cancel_task($1)", [t.id])), "BTNFD", `Task ${t.id} does not exist.`);
    }));
});

describe("baton.pause_directive(interrupt)", () => {
  it("pauses and interrupts the running attempts, giving their attempts back; they run again on resume", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }, { name: "b" }, { name: "c" }]);
      await startStep(c, s.a!.id);
      // b on its last attempt: the first failed.
      const b1 = await startStep(c, s.b!.id);
      await c.query("select baton.report_task_status($1, 'failed', error => 'boom')", [b1.id]);
      const b2 = await startStep(c, s.b!.id);
      const a1 = (await q<{ id: string }>(c, "select current_task_id as id from baton.directive_steps where id = $1", [s.a!.id])).id;
      const r = await q<{ status: string }>(c, "select * from baton.pause_directive($1, interrupt => true)", [d.id]);
      assert.equal(r.status, "paused");
      for (const id of [a1, b2.id]) {
        const t = await task(c, id);
        assert.deepEqual([t.status, t.error], ["interrupted", "Interrupted: the directive was paused with --interrupt; the step runs again when it is resumed."]);
      }
      const steps = await c.query<{ name: string; status: string; attempts: number }>("select name, status, attempts from baton.directive_steps where directive_id = $1 order by name", [d.id]);
      assert.deepEqual(steps.rows.map((x) => [x.name, x.status, x.attempts]), [["a", "ready", 0], ["b", "ready", 1], ["c", "ready", 0]]);
      await c.query("delete from graphile_worker._private_jobs");
      await c.query("select baton.start_directive($1)", [d.id]);
      const queued = JSON.stringify((await jobsWithPayload(c, "dispatch_step")).map((j) => j.payload));
      for (const id of [s.a!.id, s.b!.id, s.c!.id]) assert.ok(queued.includes(id), "every ready step is dispatched on resume");
    }));

  it("stops what a plain pause let run, on a directive already paused; a plain pause of it is refused", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      const t = await startStep(c, s.a!.id);
      await c.query("select baton.pause_directive($1)", [d.id]);
      assert.equal((await task(c, t.id)).status, "running", "a plain pause lets it finish");
      await assertDbError(
        inSavepoint(c, () => c.query("select baton.pause_directive($1)", [d.id])),
        "BTSTS",
        `Directive ${d.id} is paused, so it cannot be paused; only active or idle directives can.`,
      );
      await c.query("select baton.pause_directive($1, interrupt => true)", [d.id]);
      assert.equal((await task(c, t.id)).status, "interrupted");
    }));
});
