/*
 * Work is enqueued into graphile-worker in the transaction that creates it, exactly once: a ready
 * step of an active directive -> dispatch_step (key dispatch_step:<step>:<attempt>), a directive
 * needing a plan -> plan_directive, a task waiting for a daemon -> dispatch_task. Nothing for a draft
 * or paused directive; starting or resuming one enqueues what is ready.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, createDirective, createOwner, createTask, diamond, runStep } from "../helpers/fixtures";
import { chain, jobCount, jobsWithPayload, setup } from "./support";

const db = useTestDatabase();

const call = (c: PoolClient, fn: string, id: string) => c.query(`select baton.${fn}($1)`, [id]);

/** dispatch_step jobs of the given steps, as "name:attempt". */
async function dispatched(c: PoolClient, names: Record<string, { id: string }>): Promise<string[]> {
  const byId = new Map(Object.entries(names).map(([n, s]) => [s.id, n]));
  return (await jobsWithPayload(c, "dispatch_step"))
    .filter((j) => byId.has(j.payload.step_id as string))
    .map((j) => {
      assert.equal(j.key, `dispatch_step:${j.payload.step_id}:${j.payload.attempt}`);
      return `${byId.get(j.payload.step_id as string)}:${j.payload.attempt}`;
    })
    .sort();
}

describe("dispatch_step", () => {
  it("is enqueued exactly once for each step that becomes ready on an active directive", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, diamond());
      assert.deepEqual(await dispatched(c, s), ["a:1"]);
      await runStep(c, s.a!.id);
      assert.deepEqual(await dispatched(c, s), ["a:1", "b:1", "c:1"]);
      await runStep(c, s.b!.id);
      assert.deepEqual(await dispatched(c, s), ["a:1", "b:1", "c:1"], "d still waits on c");
      await runStep(c, s.c!.id);
      assert.deepEqual(await dispatched(c, s), ["a:1", "b:1", "c:1", "d:1"]);
    }));

  it("is enqueued with the next attempt's number when an attempt fails, once", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      await runStep(c, s.a!.id, "failed");
      assert.deepEqual(await dispatched(c, s), ["a:1", "a:2"]);
    }));

  it("is not enqueued for the steps of a draft directive", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, diamond(), { start: false });
      await call(c, "complete_step", s.a!.id);
      assert.deepEqual(await dispatched(c, s), []);
    }));

  it("is enqueued for every ready step, and only those, when a draft is started", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ key: "r1", name: "r1" }, { key: "r2", name: "r2" }, { name: "w", dependsOn: ["r1"] }], { start: false });
      await call(c, "start_directive", d.id);
      assert.deepEqual(await dispatched(c, s), ["r1:1", "r2:1"]);
    }));

  it("is not enqueued while paused, and is enqueued when resumed", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await call(c, "pause_directive", d.id);
      await call(c, "complete_step", s.a!.id);
      assert.deepEqual(await dispatched(c, s), ["a:1"]);
      await call(c, "start_directive", d.id);
      assert.deepEqual(await dispatched(c, s), ["a:1", "b:1"]);
    }));

  it("is not enqueued again for the same attempt when a directive is paused and resumed", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:1`), 1);
    }));

  it("is not enqueued for a step that already has a live task", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await createTask(c, s.a!.id);
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.deepEqual(await dispatched(c, s), ["a:1"]);
    }));

  it("is not enqueued for an archived directive", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"), { start: false });
      await call(c, "archive_directive", d.id);
      await call(c, "complete_step", s.a!.id);
      assert.deepEqual(await dispatched(c, s), []);
    }));

  it("is enqueued for steps added to an active directive", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a" }]);
      const more = await addSteps(c, d.id, [{ key: "x", name: "x" }, { name: "y", dependsOn: ["x"] }]);
      assert.deepEqual(await dispatched(c, more), ["x:1"]);
    }));
});

describe("plan_directive", () => {
  it("is enqueued once for a directive that needs a plan, however often it is started", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      const d = await createDirective(c, owner, { start: true });
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.equal(await jobCount(c, "plan_directive"), 1);
      assert.equal(await jobCount(c, "plan_directive", `plan:${d.id}:1`), 1);
    }));

  it("is not enqueued for a directive that has a plan or a planner", () =>
    withRootDb(db, async (c) => {
      await setup(c, [{ name: "a" }]);
      const { d } = await setup(c, []);
      await c.query("select baton.create_planning_task($1)", [d.id]);
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.equal(await jobCount(c, "plan_directive"), 1, "only the second directive's first start");
    }));
});

describe("dispatch_task", () => {
  it("is enqueued once for a new task that waits for a daemon", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      const t = await createTask(c, s.a!.id);
      assert.equal(t.status, "pending");
      assert.deepEqual(
        (await jobsWithPayload(c, "dispatch_task")).map((j) => [j.key, j.payload]),
        [[`dispatch_task:${t.id}`, { task_id: t.id }]],
      );
    }));

  it("is enqueued again (deduplicated) for waiting tasks when their directive is resumed", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await createTask(c, s.a!.id);
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.equal(await jobCount(c, "dispatch_task"), 1);
    }));
});

describe("enqueueing is transactional", () => {
  it("shows the job to other sessions only when the transaction that made it commits", async () => {
    const c = await db.pool.connect();
    const other = await db.pool.connect();
    try {
      const owner = await createOwner(c, "enqueue-commit");
      const d = await createDirective(c, owner, { start: false });
      const key = (stepId: string) => jobCount(other, "dispatch_step", `dispatch_step:${stepId}:1`);

      await c.query("begin");
      const s = await addSteps(c, d.id, [{ name: "a" }]);
      await c.query("select baton.start_directive($1)", [d.id]);
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:1`), 1, "visible inside the transaction");
      assert.equal(await key(s.a!.id), 0, "invisible outside it");
      await c.query("rollback");
      assert.equal(await key(s.a!.id), 0, "gone with the rollback");

      await c.query("begin");
      const s2 = await addSteps(c, d.id, [{ name: "b" }]);
      await c.query("select baton.start_directive($1)", [d.id]);
      await c.query("commit");
      assert.equal(await key(s2.b!.id), 1, "there after the commit");
    } finally {
      c.release();
      other.release();
    }
  });
});
