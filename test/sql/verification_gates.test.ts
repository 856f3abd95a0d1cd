/*
 * Verification gates in SQL (sql/000018_verification_gates.sql): where a task's check comes from, the
 * `checking` phase (live, in its daemon's slot, its step still running, lost like a running task when
 * its daemon stops reporting it), the daemon's `completed` refused before the check ran, what a failed
 * check does to the step and its dependents, and bad checks refused with clear messages.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { createTask, statuses, step } from "../helpers/fixtures";
import { chain, createDaemon, q, setup, task, writesNothing } from "./support";

const db = useTestDatabase();

type TaskRow = { id: string; status: string; version: number; daemon_id: string | null; check_command: string | null };

const report = (c: PoolClient, id: string, status: string, extra: { daemon?: string; error?: string } = {}) =>
  q<TaskRow>(c, "select * from baton.report_task_status(task_id => $1, status => $2, daemon_id => $3, error => $4)", [id, status, extra.daemon ?? null, extra.error ?? null]);

/** A chain a -> b whose directive has `directiveCheck` and whose step a has `stepCheck`; a's task assigned to a daemon. */
async function gated(c: PoolClient, opts: { directiveCheck?: string | null; stepCheck?: string | null } = {}) {
  const { owner, d, s } = await setup(c, [], { start: false });
  await c.query("select baton.set_directive_check($1, $2)", [d.id, opts.directiveCheck === undefined ? "npm test" : opts.directiveCheck]);
  const steps = [
    { key: "a", name: "a", ...(opts.stepCheck ? { check: opts.stepCheck } : {}) },
    { key: "b", name: "b", dependsOn: ["a"] },
  ];
  const rows = (await c.query<{ id: string; name: string }>("select id, name from baton.batch_add_steps($1, $2)", [d.id, JSON.stringify(steps)])).rows;
  Object.assign(s, Object.fromEntries(rows.map((r) => [r.name, r])));
  await c.query("select baton.start_directive($1)", [d.id]);
  const daemon = await createDaemon(c, owner);
  const t = (await createTask(c, s.a!.id)) as unknown as TaskRow;
  return { owner, d, a: s.a!.id, b: s.b!.id, daemon, t: await task(c, t.id) as unknown as TaskRow };
}

const liveTasks = async (c: PoolClient, daemon: string) => (await q<{ n: number }>(c, "select live_tasks as n from baton.daemons where id = $1", [daemon])).n;

describe("a task's check", () => {
  it("is its step's own check, which replaces its directive's", () =>
    withRootDb(db, async (c) => {
      const { t } = await gated(c, { directiveCheck: "npm test", stepCheck: "npm run lint" });
      assert.equal(t.check_command, "npm run lint");
    }));

  it("is its directive's check when its step has none", () =>
    withRootDb(db, async (c) => {
      const { t } = await gated(c, { directiveCheck: "npm test" });
      assert.equal(t.check_command, "npm test");
    }));

  it("is none without either, and never for a planning task", () =>
    withRootDb(db, async (c) => {
      const { t, d } = await gated(c, { directiveCheck: null });
      assert.equal(t.check_command, null);
      await c.query("select baton.set_directive_check($1, 'npm test')", [d.id]);
      await c.query("select baton.update_goal($1, 'a new goal')", [d.id]);
      const p = await q<TaskRow>(c, "select * from baton.create_planning_task($1)", [d.id]);
      assert.equal(p.check_command, null);
    }));

  it("is fixed when the task is created: a later change of the directive's check applies to later attempts only", () =>
    withRootDb(db, async (c) => {
      const { t, d } = await gated(c, { directiveCheck: "npm test" });
      const changed = await q<{ check_command: string }>(c, "select * from baton.set_directive_check($1, 'make check')", [d.id]);
      assert.equal(changed.check_command, "make check");
      assert.equal((await task(c, t.id) as unknown as TaskRow).check_command, "npm test");
    }));
});

describe("the checking phase", () => {
  it("follows running; the task stays live and in its daemon's slot, and its step stays running", () =>
    withRootDb(db, async (c) => {
      const { t, a, daemon } = await gated(c);
      await report(c, t.id, "running", { daemon });
      const r = await report(c, t.id, "checking", { daemon });
      assert.equal(r.status, "checking");
      assert.equal((await task(c, t.id)).finished_at, null);
      assert.equal(await liveTasks(c, daemon), 1);
      assert.equal((await step(c, a)).status, "running");
      const live = await q<{ live: boolean; slot: boolean }>(
        c,
        "select baton_private.task_is_live('checking') as live, baton_private.task_occupies_slot('checking') as slot",
      );
      assert.deepEqual(live, { live: true, slot: true });
      await report(c, t.id, "completed", { daemon });
      assert.equal(await liveTasks(c, daemon), 0, "the slot is freed when the check ends");
    }));

  it("accepts its daemon repeating checking without a change", () =>
    withRootDb(db, async (c) => {
      const { t, daemon } = await gated(c);
      await report(c, t.id, "running", { daemon });
      const first = await report(c, t.id, "checking", { daemon });
      const again = await report(c, t.id, "checking", { daemon });
      assert.deepEqual([again.status, again.version], ["checking", first.version]);
    }));

  it("refuses to go back to running, or to start from pending or starting (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { t, daemon } = await gated(c);
      await assertDbError(
        writesNothing(c, () => report(c, t.id, "checking", { daemon })),
        "BTSTS",
        `Task ${t.id} is starting, so it cannot become checking; allowed from starting are running, completed, failed, interrupted, cancelled.`,
      );
      await report(c, t.id, "running", { daemon });
      await report(c, t.id, "checking", { daemon });
      await assertDbError(
        writesNothing(c, () => report(c, t.id, "running", { daemon })),
        "BTSTS",
        `Task ${t.id} is checking, so it cannot become running; allowed from checking are completed, failed, interrupted, cancelled.`,
      );
      await assertDbError(
        writesNothing(c, () => c.query("update baton.tasks set status = 'starting' where id = $1", [t.id])),
        "BTSTS",
        `Task ${t.id} is checking, so it cannot become starting; allowed from checking are completed, failed, interrupted, cancelled.`,
      );
    }));

  it("keeps a second live attempt of the step out while it runs (tasks_one_live_per_step)", () =>
    withRootDb(db, async (c) => {
      const { t, a, d, owner, daemon } = await gated(c);
      await report(c, t.id, "running", { daemon });
      await report(c, t.id, "checking", { daemon });
      await assert.rejects(
        c.query("insert into baton.tasks (owner_id, directive_id, step_id, kind, attempt) values ($1, $2, $3, 'execution', 99)", [owner, d.id, a]),
        (e: Error & { code?: string; constraint?: string }) => e.code === "23505" && e.constraint === "tasks_one_live_per_step",
      );
    }));

  it("is counted lost, like running, when its daemon's heartbeat no longer reports it", () =>
    withRootDb(db, async (c) => {
      const { t, daemon } = await gated(c);
      await report(c, t.id, "running", { daemon });
      await report(c, t.id, "checking", { daemon });
      await c.query("update baton.daemons set last_heartbeat_at = now() + interval '1 second' where id = $1", [daemon]);
      await c.query("select baton_private.heartbeat($1, '{}')", [daemon]);
      const after = await task(c, t.id);
      assert.deepEqual([after.status, after.error], ["interrupted", "The daemon no longer reports this task (it was lost or its process ended)."]);
    }));
});

describe("the gate", () => {
  it("refuses a daemon's completed on a task whose check has not run (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { t, daemon } = await gated(c, { stepCheck: "make test" });
      await report(c, t.id, "running", { daemon });
      const e = await assertDbError(
        writesNothing(c, () => report(c, t.id, "completed", { daemon })),
        "BTSTS",
        `Task ${t.id} has a check (make test), so it can be completed only after its check ran; it is running.`,
      );
      assert.equal((e as { hint?: string }).hint, "Report checking, run the check in the worktree, then report completed or failed. A daemon older than the server does not run checks: upgrade it.");
      await report(c, t.id, "checking", { daemon });
      assert.equal((await report(c, t.id, "completed", { daemon })).status, "completed");
    }));

  it("lets a daemon complete a task without a check from running", () =>
    withRootDb(db, async (c) => {
      const { t, daemon } = await gated(c, { directiveCheck: null });
      await report(c, t.id, "running", { daemon });
      assert.equal((await report(c, t.id, "completed", { daemon })).status, "completed");
    }));

  it("lets a DBA (no daemon) complete a task whose check has not run", () =>
    withRootDb(db, async (c) => {
      const { t, daemon } = await gated(c);
      await report(c, t.id, "running", { daemon });
      assert.equal((await report(c, t.id, "completed")).status, "completed");
    }));

  it("keeps the dependents waiting when a check fails, and runs the step again", () =>
    withRootDb(db, async (c) => {
      const { t, d, daemon } = await gated(c);
      await report(c, t.id, "running", { daemon });
      await report(c, t.id, "checking", { daemon });
      await report(c, t.id, "failed", { daemon, error: "The check `npm test` exited with status 1; the end of its output:\nnot ok 1" });
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending" });
    }));

  it("fails the step and blocks its dependents, which get no task, when the last attempt's check fails", () =>
    withRootDb(db, async (c) => {
      const { t, d, b, daemon } = await gated(c);
      let id = t.id;
      for (let attempt = 1; attempt <= 2; attempt++) {
        if (attempt > 1) id = (await createTaskAfter(c, id)).id;
        await report(c, id, "running", { daemon });
        await report(c, id, "checking", { daemon });
        await report(c, id, "failed", { daemon, error: "The check `npm test` exited with status 1." });
      }
      assert.deepEqual(await statuses(c, d.id), { a: "failed", b: "blocked" });
      assert.equal((await q<{ n: number }>(c, "select count(*)::int as n from baton.tasks where step_id = $1", [b])).n, 0);
    }));
});

/** The next attempt of the failed task's step, assigned. */
async function createTaskAfter(c: PoolClient, taskId: string): Promise<TaskRow> {
  const { step_id: stepId } = await q<{ step_id: string }>(c, "select step_id from baton.tasks where id = $1", [taskId]);
  return (await createTask(c, stepId)) as unknown as TaskRow;
}

describe("setting a check", () => {
  it("refuses a blank or overlong check of a directive (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { owner, d } = await setup(c, chain("a"), { start: false });
      await assertDbError(
        writesNothing(c, () => c.query("select baton.create_directive('T', 'G', owner_id => $1, check_command => ' ')", [owner])),
        "BTINV",
        'The check is empty; give a shell command such as "npm test", or leave the check out.',
      );
      const e = await assertDbError(
        writesNothing(c, () => c.query("select baton.set_directive_check($1, $2)", [d.id, "x".repeat(4097)])),
        "BTINV",
        "The check is 4097 bytes; the limit is 4096 bytes.",
      );
      assert.equal((e as { hint?: string }).hint, 'Put a long check in a script in the repository and give the command that runs it, e.g. "sh scripts/check.sh".');
      assert.equal((await q<{ check_command: string }>(c, "select * from baton.set_directive_check($1, $2)", [d.id, "x".repeat(4096)])).check_command.length, 4096);
    }));

  it("refuses to change the check of an archived directive (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [], { start: false });
      await c.query("select baton.archive_directive($1)", [d.id]);
      await assertDbError(
        writesNothing(c, () => c.query("select baton.set_directive_check($1, 'npm test')", [d.id])),
        "BTSTS",
        `Directive ${d.id} is archived, so its check cannot be changed.`,
      );
    }));

  it("refuses a step check that is not a string, blank or overlong, naming the entry (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [], { start: false });
      const batch = (steps: unknown) => c.query("select baton.batch_add_steps($1, $2)", [d.id, JSON.stringify(steps)]);
      await assertDbError(
        writesNothing(c, () => batch([{ name: "a" }, { name: "b", check: ["npm", "test"] }])),
        "BTINV",
        'Entry 2 has an invalid "check": it must be a string, a shell command such as "npm test".',
      );
      await assertDbError(
        writesNothing(c, () => batch([{ name: "a", check: "" }])),
        "BTINV",
        'The check of entry 1 is empty; give a shell command such as "npm test", or leave the check out.',
      );
      await assertDbError(writesNothing(c, () => batch([{ name: "a", check: "é".repeat(2049) }])), "BTINV", "The check of entry 1 is 4098 bytes; the limit is 4096 bytes.");
      await assertDbError(
        writesNothing(c, () => c.query("select baton.add_step($1, 'a', check_command => '')", [d.id])),
        "BTINV",
        'The check is empty; give a shell command such as "npm test", or leave the check out.',
      );
      const added = await q<{ check_command: string | null }>(c, "select * from baton.add_step($1, 'a', check_command => 'npm test')", [d.id]);
      assert.equal(added.check_command, "npm test");
      const nulls = (await c.query<{ check_command: string | null }>("select check_command from baton.batch_add_steps($1, $2)", [d.id, JSON.stringify([{ name: "b", check: null }])])).rows;
      assert.deepEqual(nulls, [{ check_command: null }]);
    }));
});
