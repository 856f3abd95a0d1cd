/*
 * The per-daemon live-task counter baton.daemons.live_tasks (sql/000016_batched_dispatch.sql): the
 * statement-level trigger on tasks keeps it equal to the daemon's starting and running tasks, whoever
 * writes them (the dispatcher, a report, a daemon's disconnect or expiry, an archive, a DBA's direct
 * UPDATE or DELETE, several tasks in one statement); the CHECK live_tasks_not_negative refuses a
 * negative count; reconcile recounts a counter broken behind the trigger's back.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { createTask, type Task } from "../helpers/fixtures";
import { createDaemon, jobCount, q, setup, task } from "./support";

const db = useTestDatabase();

/** The counter of each daemon named, and what it should be: its starting and running tasks now. */
async function counters(c: PoolClient, daemons: Record<string, string>): Promise<{ counted: Record<string, number>; actual: Record<string, number> }> {
  const counted: Record<string, number> = {};
  const actual: Record<string, number> = {};
  for (const [name, id] of Object.entries(daemons)) {
    const r = await q<{ live_tasks: number; actual: number }>(
      c,
      `select d.live_tasks, (select count(*)::int from baton.tasks t where t.daemon_id = d.id and t.status in ('starting', 'running')) as actual
         from baton.daemons d where d.id = $1`,
      [id],
    );
    counted[name] = r.live_tasks;
    actual[name] = r.actual;
  }
  return { counted, actual };
}

/** Asserts each daemon's counter is `expected`, and that this is its true number of live tasks. */
async function assertLive(c: PoolClient, daemons: Record<string, string>, expected: Record<string, number>, what: string): Promise<void> {
  const { counted, actual } = await counters(c, daemons);
  assert.deepEqual(actual, expected, `${what}: the daemons' live tasks (the test's own premise)`);
  assert.deepEqual(counted, expected, `${what}: daemons.live_tasks`);
}

/** `n` independent steps s1..sn in a started directive of the owner (one is made if not given). */
async function steps(c: PoolClient, n: number, owner?: string): Promise<{ owner: string; directiveId: string; ids: string[] }> {
  const { owner: o, d, s } = await setup(
    c,
    Array.from({ length: n }, (_, i) => ({ key: `s${i + 1}`, name: `s${i + 1}` })),
    owner ? { owner } : {},
  );
  return { owner: o, directiveId: d.id, ids: Array.from({ length: n }, (_, i) => s[`s${i + 1}`]!.id) };
}

const report = (c: PoolClient, id: string, status: string, error?: string) =>
  q<Task>(c, "select * from baton.report_task_status(task_id => $1, status => $2, error => $3)", [id, status, error ?? null]);

/** Tasks for these steps, through the dispatcher's path (assigned at once when a daemon has room). */
async function tasksFor(c: PoolClient, stepIds: string[]): Promise<Task[]> {
  const out: Task[] = [];
  for (const id of stepIds) out.push(await createTask(c, id));
  return out;
}

describe("daemons.live_tasks follows the daemon's tasks", () => {
  it("counts assignment, keeps running tasks, and frees a slot on completion, failure, interruption and cancellation", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 4);
      const d = { laptop: await createDaemon(c, owner, { maxTasks: 4 }) };
      await assertLive(c, d, { laptop: 0 }, "a new daemon");
      const [t1, t2, t3, t4] = await tasksFor(c, ids);
      assert.deepEqual([t1, t2, t3, t4].map((t) => t!.status), ["starting", "starting", "starting", "starting"]);
      await assertLive(c, d, { laptop: 4 }, "four tasks assigned");
      for (const t of [t1, t2, t3, t4]) await report(c, t!.id, "running");
      await assertLive(c, d, { laptop: 4 }, "starting -> running keeps the slot");
      await report(c, t1!.id, "completed");
      await assertLive(c, d, { laptop: 3 }, "completed");
      await report(c, t2!.id, "failed", "the agent failed");
      await assertLive(c, d, { laptop: 2 }, "failed");
      await report(c, t3!.id, "interrupted", "the agent was interrupted");
      await assertLive(c, d, { laptop: 1 }, "interrupted");
      await report(c, t4!.id, "cancelled");
      await assertLive(c, d, { laptop: 0 }, "cancelled");
    }));

  it("does not count a task that waits for room, and counts it when it is assigned", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 2);
      const d = { laptop: await createDaemon(c, owner, { maxTasks: 1 }) };
      const [t1, t2] = await tasksFor(c, ids);
      assert.deepEqual([t1!.status, t2!.status], ["starting", "pending"]);
      await assertLive(c, d, { laptop: 1 }, "the daemon is full; the second task waits");
      await c.query("update baton.daemons set max_tasks = 2 where id = $1", [d.laptop]);
      assert.equal((await q<Task>(c, "select * from baton.assign_task($1)", [t2!.id])).status, "starting");
      await assertLive(c, d, { laptop: 2 }, "the waiting task assigned");
    }));

  it("frees the slot of a task cancelled by skip_step or fail_step", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 2);
      const d = { laptop: await createDaemon(c, owner) };
      const [t1, t2] = await tasksFor(c, ids);
      await report(c, t1!.id, "running");
      await assertLive(c, d, { laptop: 2 }, "one starting, one running");
      await c.query("select baton.skip_step($1)", [ids[0]]);
      assert.equal((await task(c, t1!.id)).status, "cancelled");
      await assertLive(c, d, { laptop: 1 }, "skip_step cancelled the running task");
      await c.query("select baton.fail_step($1)", [ids[1]]);
      assert.equal((await task(c, t2!.id)).status, "cancelled");
      await assertLive(c, d, { laptop: 0 }, "fail_step cancelled the starting task");
    }));

  it("frees every slot of an archived directive's tasks, on each of its daemons", () =>
    withRootDb(db, async (c) => {
      const other = await steps(c, 1); // another directive's task keeps its slot
      const { directiveId, ids } = await steps(c, 4, other.owner);
      const d = { a: await createDaemon(c, other.owner, { name: "a", maxTasks: 2 }), b: await createDaemon(c, other.owner, { name: "b", maxTasks: 2 }) };
      const [kept] = await tasksFor(c, other.ids);
      const ts = await tasksFor(c, ids);
      assert.deepEqual(ts.map((t) => t.status), ["starting", "starting", "starting", "pending"]);
      await report(c, ts[0]!.id, "running");
      await assertLive(c, d, { a: 2, b: 2 }, "four tasks over two daemons, a fifth waiting");
      await c.query("delete from graphile_worker._private_jobs");
      await c.query("select baton.archive_directive($1)", [directiveId]);
      assert.equal((await task(c, ts[3]!.id)).status, "cancelled");
      const expected = { a: kept!.daemon_id === d.a ? 1 : 0, b: kept!.daemon_id === d.b ? 1 : 0 };
      await assertLive(c, d, expected, "archived: only the other directive's task is left");
      // Each daemon that was full and freed slots asks for the dispatch of the owner's waiting tasks.
      const keys = (await c.query<{ key: string }>("select key from graphile_worker.jobs where task_identifier = 'dispatch_pending' order by key")).rows;
      assert.deepEqual(keys.map((k) => k.key), [`dispatch_pending:${other.owner}:${d.a}`, `dispatch_pending:${other.owner}:${d.b}`].sort());
    }));

  it("frees the slots of a daemon that disconnects, expires or is revoked", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 6);
      const d = {
        leaving: await createDaemon(c, owner, { name: "leaving", maxTasks: 2 }),
        expiring: await createDaemon(c, owner, { name: "expiring", maxTasks: 2 }),
        revoked: await createDaemon(c, owner, { name: "revoked", maxTasks: 2 }),
      };
      const ts = await tasksFor(c, ids);
      for (const t of ts.filter((_, i) => i % 2 === 0)) await report(c, t.id, "running");
      await assertLive(c, d, { leaving: 2, expiring: 2, revoked: 2 }, "six tasks over three daemons");
      await c.query("select baton.disconnect_daemon($1)", [d.leaving]);
      await assertLive(c, d, { leaving: 0, expiring: 2, revoked: 2 }, "disconnected");
      await c.query("update baton.daemons set last_heartbeat_at = now() - interval '1 hour' where id = $1", [d.expiring]);
      assert.equal((await q<{ n: number }>(c, "select baton.expire_daemons() as n")).n, 1);
      await assertLive(c, d, { leaving: 0, expiring: 0, revoked: 2 }, "expired");
      await c.query("select baton.revoke_daemon($1)", [d.revoked]);
      await assertLive(c, d, { leaving: 0, expiring: 0, revoked: 0 }, "revoked");
    }));
});

describe("a DBA's direct writes to baton.tasks move daemons.live_tasks", () => {
  it("follows a direct UPDATE of one task's status", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 2);
      const d = { laptop: await createDaemon(c, owner) };
      const [t1] = await tasksFor(c, ids);
      await c.query("update baton.tasks set status = 'running' where id = $1", [t1!.id]);
      await assertLive(c, d, { laptop: 2 }, "starting -> running by hand");
      await c.query("update baton.tasks set status = 'completed' where id = $1", [t1!.id]);
      await assertLive(c, d, { laptop: 1 }, "running -> completed by hand");
      await c.query("update baton.tasks set prompt = 'edited' where daemon_id = $1", [d.laptop]);
      await assertLive(c, d, { laptop: 1 }, "an UPDATE that moves no status");
    }));

  it("follows one UPDATE of many tasks on several daemons, in both directions", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 6);
      const ts = await tasksFor(c, ids);
      assert.ok(ts.every((t) => t.status === "pending"), "no daemon yet: the tasks wait");
      const d = { a: await createDaemon(c, owner, { name: "a", maxTasks: 3 }), b: await createDaemon(c, owner, { name: "b", maxTasks: 3 }) };
      await assertLive(c, d, { a: 0, b: 0 }, "registered; the waiting tasks are left to the dispatch_pending job");

      // One statement assigns the six waiting tasks, three to each daemon.
      const r1 = await c.query(
        "update baton.tasks set status = 'starting', daemon_id = case when id = any ($1) then $2::uuid else $3::uuid end where id = any ($4)",
        [ts.slice(0, 3).map((t) => t.id), d.a, d.b, ts.map((t) => t.id)],
      );
      assert.equal(r1.rowCount, 6);
      await assertLive(c, d, { a: 3, b: 3 }, "six tasks assigned in one UPDATE");

      // One statement ends two tasks of a and one of b.
      const r2 = await c.query("update baton.tasks set status = 'interrupted', error = 'stopped by the DBA' where id = any ($1)", [
        [ts[0]!.id, ts[1]!.id, ts[3]!.id],
      ]);
      assert.equal(r2.rowCount, 3);
      await assertLive(c, d, { a: 1, b: 2 }, "three tasks interrupted in one UPDATE");

      // One statement moves every live task of b to a: a's counter up and b's down, in one go.
      await c.query("update baton.tasks set daemon_id = $1 where daemon_id = $2 and status in ('starting', 'running')", [d.a, d.b]);
      await assertLive(c, d, { a: 3, b: 0 }, "b's tasks moved to a");
    }));

  it("lowers the counter when live tasks are deleted, directly or with their directive", () =>
    withRootDb(db, async (c) => {
      const { owner, directiveId, ids } = await steps(c, 3);
      const other = await steps(c, 2, owner);
      const d = { laptop: await createDaemon(c, owner) };
      const ts = await tasksFor(c, [...ids, ...other.ids]);
      await report(c, ts[0]!.id, "running");
      await assertLive(c, d, { laptop: 5 }, "five live tasks");
      await c.query("delete from baton.tasks where id = $1", [ts[3]!.id]);
      await assertLive(c, d, { laptop: 4 }, "one task deleted");
      await c.query("delete from baton.directives where id = $1", [directiveId]);
      assert.equal((await q<{ n: number }>(c, "select count(*)::int as n from baton.tasks where directive_id = $1", [directiveId])).n, 0);
      await assertLive(c, d, { laptop: 1 }, "the directive deleted with its three live tasks");
    }));
});

describe("live_tasks_not_negative", () => {
  it("refuses a direct UPDATE that makes the counter negative, naming the constraint", () =>
    withRootDb(db, async (c) => {
      const owner = (await steps(c, 0)).owner;
      const id = await createDaemon(c, owner);
      await assertDbError(
        c.query("update baton.daemons set live_tasks = -1 where id = $1", [id]),
        "23514",
        'new row for relation "daemons" violates check constraint "live_tasks_not_negative"',
      );
    }));

  it("makes a report fail loudly, rather than count below zero, when the counter was broken low; reconcile mends it", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 1);
      const d = { laptop: await createDaemon(c, owner) };
      const [t] = await tasksFor(c, ids);
      await report(c, t!.id, "running");
      await c.query("update baton.daemons set live_tasks = 0 where id = $1", [d.laptop]);
      await c.query("savepoint broken");
      await assertDbError(report(c, t!.id, "completed"), "23514", 'new row for relation "daemons" violates check constraint "live_tasks_not_negative"');
      await c.query("rollback to savepoint broken");
      assert.equal((await q<{ r: { recounted_daemons: number } }>(c, "select baton.reconcile() as r")).r.recounted_daemons, 1);
      await assertLive(c, d, { laptop: 1 }, "recounted");
      await report(c, t!.id, "completed");
      await assertLive(c, d, { laptop: 0 }, "the report goes through after the recount");
    }));
});

describe("reconcile recounts live_tasks", () => {
  it("repairs counters broken behind the trigger's back, reports how many, and finds none the second time", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 4);
      const d = {
        stale: await createDaemon(c, owner, { name: "stale", maxTasks: 2 }),
        inflated: await createDaemon(c, owner, { name: "inflated", maxTasks: 1 }),
        right: await createDaemon(c, owner, { name: "right", maxTasks: 1 }),
      };
      const ts = await tasksFor(c, ids);
      const onStale = ts.filter((t) => t.daemon_id === d.stale).map((t) => t.id);
      assert.equal(onStale.length, 2);
      // Triggers off (replica): the stale daemon's tasks end, and its counter does not move.
      await c.query("set local session_replication_role = replica");
      await c.query("update baton.tasks set status = 'completed', finished_at = now() where id = any ($1)", [onStale]);
      await c.query("set local session_replication_role = origin");
      // A direct write: the inflated daemon counts three tasks though it runs one.
      await c.query("update baton.daemons set live_tasks = 3 where id = $1", [d.inflated]);
      const before = await counters(c, d);
      assert.deepEqual(before.counted, { stale: 2, inflated: 3, right: 1 });
      assert.deepEqual(before.actual, { stale: 0, inflated: 1, right: 1 });

      const r = await q<{ r: Record<string, number> }>(c, "select baton.reconcile() as r");
      assert.equal(r.r.recounted_daemons, 2);
      await assertLive(c, d, { stale: 0, inflated: 1, right: 1 }, "after reconcile");
      assert.equal((await q<{ r: Record<string, number> }>(c, "select baton.reconcile() as r")).r.recounted_daemons, 0);
    }));

  it("lets the tasks that waited behind a wrong counter be dispatched: the owner gets a dispatch_pending job", () =>
    withRootDb(db, async (c) => {
      const { owner, ids } = await steps(c, 1);
      const id = await createDaemon(c, owner, { maxTasks: 1 });
      await c.query("update baton.daemons set live_tasks = 1 where id = $1", [id]);
      const [t] = await tasksFor(c, ids);
      assert.equal(t!.status, "pending", "the daemon looks full");
      await c.query("delete from graphile_worker._private_jobs");
      const r = await q<{ r: Record<string, number> }>(c, "select baton.reconcile() as r");
      assert.equal(r.r.recounted_daemons, 1);
      assert.equal(r.r.owners_with_pending_tasks, 1);
      assert.equal(await jobCount(c, "dispatch_pending"), 1);
    }));
});
