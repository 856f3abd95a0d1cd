/*
 * Pausing, resuming and archiving a directive that has work in flight.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { assertDbError, useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import { createDirective, createOwner, directiveStatus, independentSteps, stepStatus, tasksOf } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { startTestWorker, useTestWorker, waitForQuietQueue } from "../helpers/worker";

const db = useTestDatabase();

async function taskStatus(id: string): Promise<string> {
  return (await db.pool.query<{ status: string }>("select status from baton.tasks where id = $1", [id])).rows[0]!.status;
}

/** a -> b, and c independent: a holds the daemon's only slot, c's task waits for it, b waits for a. */
async function aRunningCWaiting(owner: string, daemon: FakeDaemon): Promise<{ id: string; steps: Record<string, string> }> {
  const d = await createDirective(db, owner, { steps: [{ key: "a", name: "a" }, { key: "b", name: "b", dependsOn: ["a"] }] });
  await waitFor(() => daemon.spawned.length === 1, { what: "a's task" });
  // c is added once a holds the slot, so which step runs first is not a race.
  d.steps.c = (await db.pool.query<{ id: string }>("select id from baton.add_step($1, 'c')", [d.id])).rows[0]!.id;
  await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 2, { what: "c's task, waiting" });
  return d;
}

describe("pause, resume and archive", () => {
  useTestWorker(db);

  it("dispatches nothing new for a paused directive while its running task finishes", async () => {
    const owner = await createOwner(db, "pause");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1, behaviour: () => "hold" });
    after(() => daemon.stop());
    // a -> b, and c independent: a runs, c waits for the only slot, b waits for a.
    const d = await aRunningCWaiting(owner, daemon);
    await waitForQuietQueue(db);
    const [running, waiting] = await tasksOf(db, { directiveId: d.id });
    assert.equal(running!.step_id, d.steps.a);
    assert.deepEqual([running!.status, waiting!.status, waiting!.step_id], ["running", "pending", d.steps.c]);

    await db.pool.query("select baton.pause_directive($1)", [d.id]);
    await daemon.finish(running!.id, "completed");
    await waitForQuietQueue(db);

    // The slot is free and b became ready, but nothing was dispatched.
    assert.equal(await taskStatus(running!.id), "completed");
    assert.equal(await stepStatus(db, d.steps.b!), "ready");
    assert.equal(await taskStatus(waiting!.id), "pending");
    assert.equal((await tasksOf(db, { directiveId: d.id })).length, 2);
    assert.equal(daemon.spawned.length, 1);
    assert.equal(await directiveStatus(db, d.id), "paused");
  });

  it("dispatches the ready steps and the waiting tasks of a paused directive when it is resumed", async () => {
    const owner = await createOwner(db, "resume");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1, behaviour: () => "hold" });
    after(() => daemon.stop());
    const d = await aRunningCWaiting(owner, daemon);
    await db.pool.query("select baton.pause_directive($1)", [d.id]);
    await daemon.finish(daemon.spawned[0]!.id, "completed");
    await waitForQuietQueue(db);
    assert.equal(daemon.spawned.length, 1);

    const resumed = (await db.pool.query<{ status: string }>("select status from baton.start_directive($1)", [d.id])).rows[0]!;
    assert.equal(resumed.status, "active");
    // b (ready) and c (its task waiting) are both dispatched; the one slot takes them one at a time.
    await waitFor(() => daemon.spawned.length === 2, { what: "a second task dispatched" });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 3, { what: "b's task" });
    await daemon.finish(daemon.spawned[1]!.id, "completed");
    await waitFor(() => daemon.spawned.length === 3, { what: "a third task dispatched" });
    await daemon.finish(daemon.spawned[2]!.id, "completed");
    assert.deepEqual(daemon.spawned.slice(1).map((t) => t.step_id).sort(), [d.steps.b, d.steps.c].sort());
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "idle" });
    assert.deepEqual(daemon.errors, []);
  });

  it("interrupts the running task (interrupt_task to its daemon) and cancels the waiting ones when a directive is archived", async () => {
    const owner = await createOwner(db, "archive");
    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1, behaviour: () => "hold" });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(3) });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 3 && daemon.spawned.length === 1, { what: "one running, two waiting" });
    await waitForQuietQueue(db);
    const running = daemon.spawned[0]!.id;
    await waitFor(async () => (await taskStatus(running)) === "running", { what: "running" });

    await db.pool.query("select baton.archive_directive($1)", [d.id]);
    const tasks = await tasksOf(db, { directiveId: d.id });
    assert.deepEqual(
      tasks.filter((t) => t.id === running).map((t) => [t.status, t.error]),
      [["interrupted", "The directive was archived."]],
    );
    assert.deepEqual(
      tasks.filter((t) => t.id !== running).map((t) => [t.status, t.daemon_id, t.error]),
      [
        ["cancelled", null, "The directive was archived."],
        ["cancelled", null, "The directive was archived."],
      ],
    );
    await waitFor(() => daemon.commandsFor(running).includes("interrupt_task"), { what: "interrupt_task to the daemon" });
    assert.deepEqual(daemon.commandsFor(running), ["spawn_task", "interrupt_task"]);

    // Nothing is retried or dispatched for an archived directive, even with the slot free.
    await waitForQuietQueue(db);
    assert.equal((await tasksOf(db, { directiveId: d.id })).length, 3);
    assert.equal(daemon.spawned.length, 1);
    // The agent's late report is refused.
    await assertDbError(daemon.report(running, "completed"), "BTSTL", /already interrupted .* late "completed" report was ignored/);
  });
});

describe("pause, with the worker started by the test", () => {
  /*
   * dispatch_steps reads the steps (ready, directive active), builds the prompts, then starts the
   * tasks. A pause in between makes start_execution_tasks create nothing; the job must end quietly,
   * not fail and be retried, and resuming dispatches the step.
   */
  it("drops a step's dispatch quietly when the directive is paused while the job runs, and dispatches it on resume", async () => {
    const owner = await createOwner(db, "pause-race");
    const daemon = await FakeDaemon.start(db, { ownerId: owner });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { steps: independentSteps(1) });
    const holder = await db.pool.connect();
    after(() => holder.release());
    await holder.query("begin");
    await holder.query("select 1 from baton.directives where id = $1 for update", [d.id]);
    await startTestWorker(db);
    await waitFor(
      async () =>
        (await db.pool.query("select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%start_execution_tasks%'")).rowCount! > 0,
      { what: "the dispatch job to wait for the directive" },
    );
    await holder.query("select baton.pause_directive($1)", [d.id]);
    await holder.query("commit");

    await waitForQuietQueue(db);
    assert.deepEqual(await tasksOf(db, { directiveId: d.id }), []);
    assert.equal(await stepStatus(db, d.steps.s1!), "ready");

    await db.pool.query("select baton.start_directive($1)", [d.id]);
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "idle after the resume" });
    assert.deepEqual(daemon.errors, []);
  });
});
