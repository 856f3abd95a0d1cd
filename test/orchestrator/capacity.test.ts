/*
 * Capacity: a daemon never runs more than max_tasks live tasks, and a freed slot goes to a waiting
 * task at once (the slot_freed trigger queues dispatch_pending; there is no crontab here).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { PoolClient } from "pg";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import { jobs } from "../helpers/fixtures";
import { createDirective, createOwner, directiveStatus, independentSteps, liveTasksPerDaemon, tasksOf } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { startTestWorker, waitForQuietQueue } from "../helpers/worker";

const db = useTestDatabase();

async function connect(): Promise<PoolClient> {
  const c = await db.pool.connect();
  after(async () => {
    await c.query("rollback").catch(() => undefined);
    c.release();
  });
  return c;
}

describe("a daemon's capacity", () => {
  it("never gives a daemon with max_tasks=1 a second live task, and dispatches the next one when it finishes", async () => {
    await startTestWorker(db);
    const owner = await createOwner(db, "one-slot");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1, behaviour: () => "hold" });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(3) });

    for (let finished = 0; finished < 3; finished++) {
      await waitFor(() => daemon.spawned.length === finished + 1, { what: `task ${finished + 1} to be spawned` });
      await waitForQuietQueue(db);
      // The spawn is recorded when the command arrives; the daemon's `running` report follows it.
      const tasks = await waitFor(async () => {
        const all = await tasksOf(db, { directiveId: d.id });
        return all.some((t) => t.status === "running") && all;
      }, { what: "the spawned task running" });
      assert.equal(tasks.filter((t) => t.status === "running").length, 1);
      assert.equal(tasks.filter((t) => t.status === "pending").length, 3 - finished - 1);
      assert.deepEqual(await liveTasksPerDaemon(db), { [daemon.id]: 1 });
      await daemon.finish(daemon.spawned[finished]!.id, "completed");
    }
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "idle" });
    assert.equal(new Set(daemon.spawned.map((t) => t.id)).size, 3);
    assert.deepEqual(daemon.errors, []);
  });

  it("fills a daemon with max_tasks=3 to three live tasks and keeps the rest pending", async () => {
    await startTestWorker(db);
    const owner = await createOwner(db, "three-slots");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 3, behaviour: () => "hold" });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(5) });
    await waitFor(() => daemon.spawned.length === 3, { what: "three tasks spawned" });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 5, { what: "five tasks" });
    await waitForQuietQueue(db);
    // Spawned means the command arrived; the daemon's `running` reports follow.
    const statuses = await waitFor(async () => {
      const s = (await tasksOf(db, { directiveId: d.id })).map((t) => t.status).sort();
      return !s.includes("starting") && s;
    }, { what: "the spawned tasks running" });
    assert.deepEqual(statuses, ["pending", "pending", "running", "running", "running"]);
    assert.equal(daemon.spawned.length, 3);
    for (const t of [...daemon.spawned]) await daemon.finish(t.id, "completed");
    await waitFor(() => daemon.spawned.length === 5, { what: "the last two tasks spawned" });
    for (const t of daemon.spawned.slice(3)) await daemon.finish(t.id, "completed");
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "idle" });
    assert.deepEqual(daemon.errors, []);
  });

  it("queues dispatch_pending in the transaction that frees a slot", async () => {
    const owner = await createOwner(db, "slot-freed");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1, behaviour: () => "hold" });
    after(() => daemon.stop());
    await startTestWorker(db);
    await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(() => daemon.spawned.length === 1, { what: "the task spawned" });
    await waitForQuietQueue(db);
    const c = await connect();
    await c.query("begin");
    await c.query("select baton.report_task_status(task_id => $1, status => 'completed', daemon_id => $2)", [daemon.spawned[0]!.id, daemon.id]);
    const queued = (await jobs(c, "dispatch_pending")).map((j) => [j.key, j.payload]);
    await c.query("rollback");
    assert.deepEqual(queued, [[`dispatch_pending:${owner}:${daemon.id}`, { owner_id: owner }]]);
  });

  /*
   * Two completions on two full daemons of one owner, both uncommitted: each queues its own
   * dispatch_pending run (keyed by daemon), so the second does not wait for the first to commit. With
   * one job key per owner the second's add_job waited on the first's job row (149 ms per completion
   * in the `many` bench); here it would run into the lock_timeout.
   */
  it("queues each full daemon's freed slot under its own job key, so completions on two daemons do not wait for each other", async () => {
    const owner = await createOwner(db, "two-daemons");
    const one = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1, behaviour: () => "hold" });
    after(() => one.stop());
    const two = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1, behaviour: () => "hold" });
    after(() => two.stop());
    const worker = await startTestWorker(db);
    // Two directives, so the two reports do not queue on one directive's lock either.
    await createDirective(db, owner, { title: "first", steps: independentSteps(1) });
    await createDirective(db, owner, { title: "second", steps: independentSteps(1) });
    await waitFor(() => one.spawned.length === 1 && two.spawned.length === 1, { what: "a task spawned on each daemon" });
    await waitForQuietQueue(db);
    await worker.stop();
    const a = await connect();
    const b = await connect();
    await a.query("begin");
    await a.query("select baton.report_task_status(task_id => $1, status => 'completed', daemon_id => $2)", [one.spawned[0]!.id, one.id]);
    await b.query("begin");
    await b.query("set local lock_timeout = '5s'");
    await b.query("select baton.report_task_status(task_id => $1, status => 'completed', daemon_id => $2)", [two.spawned[0]!.id, two.id]);
    const queued = (await jobs(b, "dispatch_pending")).map((j) => j.key);
    assert.deepEqual(queued, [`dispatch_pending:${owner}:${two.id}`]);
    await a.query("rollback");
    await b.query("rollback");
  });

  /*
   * The lost wakeup, step by step on real connections. A creates a task that finds the daemon full and
   * commits; its dispatch_task job runs (here: assign_task by hand) while B, which frees the slot, has
   * not committed yet, so it still sees the daemon full. B had looked for waiting tasks before A
   * committed. Unless B signals unconditionally, nothing is left to dispatch the task.
   */
  it("hands a slot freed concurrently with a new task's failed assignment to that task", async () => {
    const owner = await createOwner(db, "race-slot");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1, behaviour: () => "hold" });
    after(() => daemon.stop());
    const first = await createDirective(db, owner, { title: "first", steps: independentSteps(1) });
    const worker = await startTestWorker(db);
    await waitFor(() => daemon.spawned.length === 1, { what: "the first task spawned" });
    await waitForQuietQueue(db);
    await worker.stop();
    const second = await createDirective(db, owner, { title: "second", steps: independentSteps(1) });

    const a = await connect();
    const b = await connect();
    await a.query("begin");
    const created = (await a.query<{ id: string; status: string }>("select id, status from baton.create_execution_task($1, 'p')", [second.steps.s1])).rows[0]!;
    assert.equal(created.status, "pending");
    await b.query("begin");
    await b.query("select baton.report_task_status(task_id => $1, status => 'completed', daemon_id => $2)", [daemon.spawned[0]!.id, daemon.id]);
    await a.query("commit");
    // The dispatch_task job of A, run while B is still open: the daemon still looks full.
    const assigned = (await db.pool.query<{ status: string | null }>("select status from baton.assign_task($1)", [created.id])).rows[0]!;
    assert.equal(assigned.status, null);
    await db.pool.query("select graphile_worker.remove_job($1)", [`dispatch_task:${second.id}`]);
    await b.query("commit");

    await startTestWorker(db);
    await waitFor(() => daemon.spawned.length === 2, { what: "the second task spawned on the freed slot" });
    assert.equal(daemon.spawned[1]!.id, created.id);
    assert.equal(await directiveStatus(db, first.id), "idle");
    assert.deepEqual(daemon.errors, []);
  });

  it("hands a task created while a daemon registers to that daemon", async () => {
    const owner = await createOwner(db, "race-register");
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    const a = await connect();
    const b = await connect();
    await a.query("begin");
    const created = (await a.query<{ id: string; status: string }>("select id, status from baton.create_execution_task($1, 'p')", [d.steps.s1])).rows[0]!;
    assert.equal(created.status, "pending");
    await b.query("begin");
    const daemonId = (await b.query<{ id: string }>("select id from baton.register_daemon('late', owner_id => $1)", [owner])).rows[0]!.id;
    await a.query("commit");
    // The dispatch_task job of A, run before the registration commits: no daemon yet.
    assert.equal((await db.pool.query("select status from baton.assign_task($1)", [created.id])).rows[0].status, null);
    await db.pool.query("select graphile_worker.remove_job($1)", [`dispatch_task:${d.id}`]);
    await b.query("commit");

    await startTestWorker(db);
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id }))[0]?.daemon_id === daemonId, { what: "the task assigned to the new daemon" });
  });
});
