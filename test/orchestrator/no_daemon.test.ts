/*
 * With no daemon, tasks wait as `pending`; a daemon registering is an event that dispatches them at
 * once. The worker runs without its crontab, so nothing here can be the minute's reconcile.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import { createDirective, createOwner, directiveStatus, independentSteps, tasksOf } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { useTestWorker, waitForQuietQueue } from "../helpers/worker";

const db = useTestDatabase();

describe("tasks without a daemon", () => {
  useTestWorker(db);

  it("keeps every task pending while the owner has no daemon", async () => {
    const owner = await createOwner(db, "nobody-home");
    const d = await createDirective(db, owner, { steps: independentSteps(3) });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 3, { what: "three tasks" });
    await waitForQuietQueue(db);
    const tasks = await tasksOf(db, { directiveId: d.id });
    assert.deepEqual(
      tasks.map((t) => [t.status, t.daemon_id, t.attempt]),
      [
        ["pending", null, 1],
        ["pending", null, 1],
        ["pending", null, 1],
      ],
    );
    assert.equal(await directiveStatus(db, d.id), "active");
  });

  it("assigns the waiting tasks as soon as baton.register_daemon registers a daemon", async () => {
    const owner = await createOwner(db, "register");
    const d = await createDirective(db, owner, { steps: independentSteps(2) });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 2, { what: "two tasks" });
    await waitForQuietQueue(db);
    assert.deepEqual((await tasksOf(db, { directiveId: d.id })).map((t) => t.status), ["pending", "pending"]);

    const daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('laptop', max_tasks => 2, owner_id => $1)", [owner])).rows[0]!.id;
    const assigned = await waitFor(
      async () => {
        const tasks = await tasksOf(db, { directiveId: d.id });
        return tasks.every((t) => t.status === "starting") ? tasks : undefined;
      },
      { what: "both tasks assigned" },
    );
    assert.deepEqual(assigned.map((t) => t.daemon_id), [daemonId, daemonId]);

    // The daemon connects to its channel after registering: it catches up on what was assigned meanwhile.
    const daemon = await FakeDaemon.attach(db, daemonId);
    after(() => daemon.stop());
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "the directive to go idle" });
    assert.deepEqual(
      (await tasksOf(db, { directiveId: d.id })).map((t) => t.status),
      ["completed", "completed"],
    );
    assert.deepEqual(daemon.errors, []);
  });

  it("dispatches the oldest waiting task first when a daemon with one slot arrives (FakeDaemon.start)", async () => {
    const owner = await createOwner(db, "oldest-first");
    const d = await createDirective(db, owner, { steps: independentSteps(3) });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 3, { what: "three tasks" });
    await waitForQuietQueue(db);
    const waiting = (await tasksOf(db, { directiveId: d.id })).map((t) => t.id);

    const daemon = await FakeDaemon.start(db, { ownerId: owner, maxTasks: 1 });
    after(() => daemon.stop());
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "the directive to go idle" });
    assert.deepEqual(daemon.spawned.map((t) => t.id), waiting);
    assert.deepEqual(daemon.errors, []);
  });

  it("plans a directive started with no daemon once a daemon registers", async () => {
    const owner = await createOwner(db, "planner-later");
    const d = await createDirective(db, owner, { goal: "Write a haiku" });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 1, { what: "the planning task" });
    await waitForQuietQueue(db);
    const [planning] = await tasksOf(db, { directiveId: d.id });
    assert.equal(planning!.kind, "planning");
    assert.equal(planning!.status, "pending");

    const daemon = await FakeDaemon.start(db, {
      ownerId: owner,
      behaviour: async (task, self) => {
        if (task.kind === "planning") await self.query("select baton.add_step($1, 'write it')", [task.directive_id]);
        return "completed" as const;
      },
    });
    after(() => daemon.stop());
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "the directive to go idle" });
    assert.deepEqual(daemon.spawned.map((t) => t.kind), ["planning", "execution"]);
    assert.deepEqual(daemon.errors, []);
  });

  it("does not give a daemon another owner's waiting tasks", async () => {
    const alice = await createOwner(db, "alice-tasks");
    const bob = await createOwner(db, "bob-daemon");
    const d = await createDirective(db, alice, { steps: independentSteps(1) });
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length === 1, { what: "a task" });
    const daemon = await FakeDaemon.start(db, { ownerId: bob, maxTasks: 5 });
    after(() => daemon.stop());
    await waitForQuietQueue(db);
    assert.deepEqual((await tasksOf(db, { directiveId: d.id })).map((t) => [t.status, t.daemon_id]), [["pending", null]]);
    assert.deepEqual(daemon.spawned, []);
  });
});
