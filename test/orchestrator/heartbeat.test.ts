/*
 * Heartbeat reconciliation: what the daemon says it runs against what the server thinks it runs.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { assertDbError, useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import { createDirective, createOwner, independentSteps, tasksOf } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { useTestWorker, waitForQuietQueue } from "../helpers/worker";

const db = useTestDatabase();

async function taskStatus(id: string): Promise<string> {
  return (await db.pool.query<{ status: string }>("select status from baton.tasks where id = $1", [id])).rows[0]!.status;
}

describe("heartbeat reconciliation", () => {
  useTestWorker(db);

  it("interrupts a running task that the daemon's heartbeat no longer reports, and retries its step", async () => {
    const owner = await createOwner(db, "lost-task");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, behaviour: () => "hold" });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(async () => daemon.spawned.length === 1 && (await taskStatus(daemon.spawned[0]!.id)) === "running", { what: "a running task" });
    const lost = daemon.spawned[0]!.id;

    await daemon.heartbeat([lost]); // a heartbeat after the task became running...
    await daemon.heartbeat([]); // ...then one without it
    const [task] = await tasksOf(db, { stepId: d.steps.s1 });
    assert.equal(task!.status, "interrupted");
    assert.equal(task!.error, "The daemon no longer reports this task (it was lost or its process ended).");
    await waitFor(() => daemon.spawned.length === 2, { what: "the step's second attempt" });
    assert.deepEqual(daemon.commandsFor(lost), ["spawn_task", "interrupt_task"]);
    assert.equal(daemon.spawned[1]!.attempt, 2);
    assert.deepEqual(daemon.errors, []);
  });

  it("spares a running task that started after the previous heartbeat, which the heartbeat's list may predate, and interrupts it at the next heartbeat", async () => {
    const owner = await createOwner(db, "overtaken");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, behaviour: () => "hold" });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(async () => daemon.spawned.length === 1 && (await taskStatus(daemon.spawned[0]!.id)) === "running", { what: "a running task" });
    const task = daemon.spawned[0]!.id;

    // The `running` report overtook a heartbeat whose list was made before the spawn.
    await daemon.heartbeat([]);
    assert.equal(await taskStatus(task), "running");
    // The next heartbeat was made after that one was processed: a task still missing is lost.
    await daemon.heartbeat([]);
    const [t] = await tasksOf(db, { stepId: d.steps.s1 });
    assert.deepEqual([t!.status, t!.error], ["interrupted", "The daemon no longer reports this task (it was lost or its process ended)."]);
  });

  it("accepts its daemon's repeated running report (a retry after a timeout) without changing the task", async () => {
    const owner = await createOwner(db, "repeat-running");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, behaviour: () => "hold" });
    after(() => daemon.stop());
    await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(async () => daemon.spawned.length === 1 && (await taskStatus(daemon.spawned[0]!.id)) === "running", { what: "a running task" });
    const task = daemon.spawned[0]!.id;
    const before = (await db.pool.query<{ version: number; started_at: Date }>("select version, started_at from baton.tasks where id = $1", [task])).rows[0]!;

    // The retry carries the version the daemon saw when the task was starting, as the first try did.
    const r = await db.pool.query<{ status: string; version: number }>(
      "select status, version from baton.report_task_status(task_id => $1, status => 'running', expected_version => $2, daemon_id => $3)",
      [task, before.version - 1, daemon.id],
    );
    assert.deepEqual(r.rows[0], { status: "running", version: before.version });
    const events = await db.pool.query("select 1 from baton.events where subject_id = $1 and to_status = 'running'", [task]);
    assert.equal(events.rowCount, 1, "one running event");
  });

  it("keeps a task only just assigned that the heartbeat does not report yet, and interrupts it once it has been starting for longer than the lease", async () => {
    const owner = await createOwner(db, "slow-spawn");
    // Registered but not listening: its task stays `starting`, as if the spawn were slow.
    const daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('slow', owner_id => $1)", [owner])).rows[0]!.id;
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    const task = await waitFor(async () => (await tasksOf(db, { stepId: d.steps.s1 })).find((t) => t.status === "starting"), { what: "the task assigned" });
    await waitForQuietQueue(db);

    await db.pool.query("select baton.heartbeat($1, '{}')", [daemonId]);
    assert.equal(await taskStatus(task.id), "starting");

    await db.pool.query("update baton.tasks set assigned_at = now() - interval '31 seconds' where id = $1", [task.id]);
    await db.pool.query("select baton.heartbeat($1, '{}')", [daemonId]);
    assert.equal(await taskStatus(task.id), "interrupted");
  });

  it("sends interrupt_task to a daemon that reports a task which is already over", async () => {
    const owner = await createOwner(db, "over");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, behaviour: () => "hold" });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(async () => daemon.spawned.length === 1 && (await taskStatus(daemon.spawned[0]!.id)) === "running", { what: "a running task" });
    const task = daemon.spawned[0]!.id;
    // The user completes the step by hand: the task is cancelled and the daemon told to stop.
    await db.pool.query("select baton.complete_step($1)", [d.steps.s1]);
    assert.equal(await taskStatus(task), "cancelled");
    await waitFor(() => daemon.commandsFor(task).length === 2, { what: "the first interrupt_task" });

    // The daemon missed it and still reports the task: it is told again, and nothing else changes.
    await daemon.heartbeat([task]);
    await waitFor(() => daemon.commandsFor(task).length === 3, { what: "the second interrupt_task" });
    assert.deepEqual(daemon.commandsFor(task), ["spawn_task", "interrupt_task", "interrupt_task"]);
    assert.equal(await taskStatus(task), "cancelled");
  });

  it("sends interrupt_task to a daemon that reports a task assigned to another daemon, and leaves that task alone", async () => {
    const owner = await createOwner(db, "not-yours");
    const mine = await FakeDaemon.start(db, { ownerId: owner, name: "mine", behaviour: () => "hold" });
    after(() => mine.stop());
    await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(async () => mine.spawned.length === 1 && (await taskStatus(mine.spawned[0]!.id)) === "running", { what: "a running task" });
    const task = mine.spawned[0]!.id;
    const confused = await FakeDaemon.start(db, { ownerId: owner, name: "confused" });
    after(() => confused.stop());

    await confused.heartbeat([task]);
    await waitFor(() => confused.commandsFor(task).length === 1, { what: "interrupt_task to the confused daemon" });
    assert.deepEqual(confused.commandsFor(task), ["interrupt_task"]);
    assert.equal(await taskStatus(task), "running");
    assert.deepEqual(mine.commandsFor(task), ["spawn_task"]);
  });

  it("rejects a status report from a daemon the task is not assigned to (BTDNY)", async () => {
    const owner = await createOwner(db, "wrong-reporter");
    const mine = await FakeDaemon.start(db, { ownerId: owner, name: "mine", behaviour: () => "hold" });
    after(() => mine.stop());
    await createDirective(db, owner, { steps: independentSteps(1) });
    await waitFor(async () => mine.spawned.length === 1 && (await taskStatus(mine.spawned[0]!.id)) === "running", { what: "a running task" });
    const task = mine.spawned[0]!.id;
    const other = await FakeDaemon.start(db, { ownerId: owner, name: "other" });
    after(() => other.stop());

    await assertDbError(
      other.report(task, "completed"),
      "BTDNY",
      `Task ${task} is assigned to daemon ${mine.id}, not to daemon ${other.id}; only its daemon may report on it.`,
    );
    assert.equal(await taskStatus(task), "running");
    await mine.finish(task, "completed");
    assert.equal(await taskStatus(task), "completed");
  });

  it("rejects a heartbeat from a daemon that does not exist (BTNFD)", async () => {
    const id = "00000000-0000-4000-8000-000000000001";
    await assertDbError(db.pool.query("select baton.heartbeat($1, '{}')", [id]), "BTNFD", `Daemon ${id} does not exist.`);
  });
});
