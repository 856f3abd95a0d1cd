/*
 * Daemon liveness: a daemon is alive while its heartbeat is younger than the lease. When it expires,
 * its tasks are interrupted and their steps retried elsewhere (assign_task prefers daemons the step
 * has not failed on), and whatever the stale daemon reports late is rejected.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { assertDbError, useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import { createDirective, createOwner, directiveStatus, independentSteps, setDaemonLease, stepStatus, taskTransitions, tasksOf } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { useTestWorker, waitForQuietQueue } from "../helpers/worker";

const db = useTestDatabase();

async function daemonStatus(id: string): Promise<string> {
  return (await db.pool.query<{ status: string }>("select status from baton.daemons where id = $1", [id])).rows[0]!.status;
}

async function expireDaemons(): Promise<number> {
  return (await db.pool.query<{ n: number }>("select baton.expire_daemons() as n")).rows[0]!.n;
}

describe("daemon liveness", () => {
  useTestWorker(db);

  it("interrupts the task of a daemon that stops heartbeating, retries its step on the other daemon and rejects the stale daemon's late report (BTSTL)", async () => {
    await setDaemonLease(db, 1);
    after(() => setDaemonLease(db, 30));
    const owner = await createOwner(db, "two-daemons");
    const stale = await FakeDaemon.start(db, { ownerId: owner, name: "stale", behaviour: () => "hold" });
    after(() => stale.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(() => stale.spawned.length === 1, { what: "the task spawned on the first daemon" });
    const lost = stale.spawned[0]!;
    const healthy = await FakeDaemon.start(db, { ownerId: owner, name: "healthy" });
    after(() => healthy.stop());

    // The healthy daemon heartbeats while we wait for the stale one's lease (1 s) to run out. The
    // worker's own sweep may get there first; either way baton.expire_daemons does it.
    await waitFor(
      async () => {
        await healthy.heartbeat();
        await expireDaemons();
        return (await daemonStatus(stale.id)) === "disconnected";
      },
      { what: "the stale daemon's lease to expire" },
    );
    assert.equal(await daemonStatus(stale.id), "disconnected");
    assert.equal(await daemonStatus(healthy.id), "connected");
    const [interrupted] = await tasksOf(db, { stepId: d.steps.s1 });
    assert.equal(interrupted!.status, "interrupted");
    assert.equal(interrupted!.error, "The daemon stopped heartbeating (its lease expired).");
    await waitFor(() => stale.commandsFor(lost.id).includes("interrupt_task"), { what: "interrupt_task sent to the stale daemon" });

    await waitFor(
      async () => {
        await healthy.heartbeat();
        return (await stepStatus(db, d.steps.s1!)) === "completed";
      },
      { what: "the step retried and completed" },
    );
    const tasks = await tasksOf(db, { stepId: d.steps.s1 });
    assert.deepEqual(
      tasks.map((t) => [t.attempt, t.daemon_id, t.status]),
      [
        [1, stale.id, "interrupted"],
        [2, healthy.id, "completed"],
      ],
    );

    // The stale daemon's agent finishes after all and reports: too late.
    await assertDbError(
      stale.report(lost.id, "completed"),
      "BTSTL",
      `Task ${lost.id} is already interrupted (version ${interrupted!.version}), so this late "completed" report was ignored.`,
    );
    assert.deepEqual(await taskTransitions(db, lost.id), ["->pending", "pending->starting", "starting->running", "running->interrupted"]);
    assert.equal(await directiveStatus(db, d.id), "idle");
    assert.deepEqual([...stale.errors, ...healthy.errors], []);
  });

  it("retries a failed step on a daemon it has not failed on, although the daemon it failed on would otherwise win", async () => {
    const owner = await createOwner(db, "prefer-other");
    const other = await FakeDaemon.start(db, { ownerId: owner, name: "other" });
    after(() => other.stop());
    const failing = await FakeDaemon.start(db, { ownerId: owner, name: "failing", behaviour: () => "failed" });
    after(() => failing.stop());
    // Equal load: the most recent heartbeat wins, so the first attempt goes to `failing`.
    await other.heartbeat();
    await failing.heartbeat();
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(async () => (await stepStatus(db, d.steps.s1!)) === "completed", { what: "the step completed" });
    const tasks = await tasksOf(db, { stepId: d.steps.s1 });
    assert.deepEqual(
      tasks.map((t) => [t.attempt, t.daemon_id, t.status, t.error]),
      [
        [1, failing.id, "failed", "the fake agent failed"],
        [2, other.id, "completed", null],
      ],
    );
    assert.deepEqual([...other.errors, ...failing.errors], []);
  });

  it("retries a failed step on the daemon it failed on when that is the only one with room", async () => {
    const owner = await createOwner(db, "only-room");
    const busy = await FakeDaemon.start(db, { ownerId: owner, name: "busy", behaviour: () => "hold" });
    after(() => busy.stop());
    const blocker = await createDirective(db, owner, { title: "blocker", steps: independentSteps(1) });
    await waitFor(() => busy.spawned.length === 1, { what: "the busy daemon to be full" });
    let failedOnce = false;
    const flaky = await FakeDaemon.start(db, {
      ownerId: owner,
      name: "flaky",
      behaviour: () => {
        if (failedOnce) return "completed";
        failedOnce = true;
        return "failed";
      },
    });
    after(() => flaky.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(async () => (await stepStatus(db, d.steps.s1!)) === "completed", { what: "the step completed" });
    assert.deepEqual(
      (await tasksOf(db, { stepId: d.steps.s1 })).map((t) => [t.attempt, t.daemon_id, t.status]),
      [
        [1, flaky.id, "failed"],
        [2, flaky.id, "completed"],
      ],
    );
    await busy.finish(busy.spawned[0]!.id, "completed");
    await waitFor(async () => (await directiveStatus(db, blocker.id)) === "idle", { what: "the blocker to finish" });
  });

  it("leaves daemons within their lease alone", async () => {
    const owner = await createOwner(db, "fresh");
    const daemon = await FakeDaemon.start(db, { ownerId: owner });
    after(() => daemon.stop());
    await daemon.heartbeat();
    assert.equal(await expireDaemons(), 0);
    assert.equal(await daemonStatus(daemon.id), "connected");
  });

  it("connects a disconnected daemon again when it heartbeats, and dispatches the waiting tasks to it", async () => {
    const owner = await createOwner(db, "comeback");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 2 });
    after(() => daemon.stop());
    await db.pool.query("select baton.disconnect_daemon($1)", [daemon.id]);
    assert.equal(await daemonStatus(daemon.id), "disconnected");
    const d = await createDirective(db, owner, { steps: independentSteps(2) });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 2, { what: "two tasks" });
    await waitForQuietQueue(db);
    assert.deepEqual((await tasksOf(db, { directiveId: d.id })).map((t) => t.status), ["pending", "pending"]);
    assert.deepEqual(daemon.spawned, []);

    await daemon.heartbeat();
    assert.equal(await daemonStatus(daemon.id), "connected");
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "the directive to go idle" });
    assert.equal(daemon.spawned.length, 2);
    assert.deepEqual(daemon.errors, []);
  });
});

describe("daemon liveness, without a worker (step by step on real connections)", () => {
  it("interrupts, at the next sweep, a task assigned to a daemon while it was being disconnected", async () => {
    const owner = await createOwner(db, "orphan");
    const daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('leaving', owner_id => $1)", [owner])).rows[0]!.id;
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    const assigner = await db.pool.connect();
    const leaver = await db.pool.connect();
    after(() => {
      assigner.release();
      leaver.release();
    });

    // A dispatcher creates the task and assigns it: it holds the daemon row while it counts its load.
    await assigner.query("begin");
    const task = (await assigner.query<{ id: string; status: string }>("select id, status from baton.create_execution_task($1, 'p')", [d.steps.s1])).rows[0]!;
    assert.equal(task.status, "starting");
    // Meanwhile the daemon disconnects: it interrupts the tasks it can see (none yet), then waits for the row.
    const leaverPid = (await leaver.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
    const disconnecting = leaver.query("select baton.disconnect_daemon($1)", [daemonId]);
    await waitFor(async () => (await db.pool.query("select wait_event_type from pg_stat_activity where pid = $1", [leaverPid])).rows[0]?.wait_event_type === "Lock", {
      what: "the disconnect to wait for the daemon row",
    });
    await assigner.query("commit");
    await disconnecting;

    assert.equal(await daemonStatus(daemonId), "disconnected");
    assert.equal((await tasksOf(db, { stepId: d.steps.s1 }))[0]!.status, "starting");
    assert.equal(await expireDaemons(), 0);
    const [orphan] = await tasksOf(db, { stepId: d.steps.s1 });
    assert.deepEqual([orphan!.status, orphan!.error], ["interrupted", "The daemon had disconnected when this task was assigned to it."]);
    assert.equal(await stepStatus(db, d.steps.s1!), "ready");
  });
});
