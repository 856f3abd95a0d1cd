/*
 * Idle: an active directive goes idle by itself when nothing is left to run or plan, and wakes up
 * (idle -> active) when work appears: a goal update, new steps, a retry, or a re-wiring that frees a
 * blocked step. It must not flap idle -> active -> idle when nothing runnable appeared.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { directive, runStep, statuses } from "../helpers/fixtures";
import { chain, eventsOf, jobCount, q, setup, startStep } from "./support";

const db = useTestDatabase();

const call = (c: PoolClient, fn: string, ...args: unknown[]) =>
  c.query(`select baton.${fn}(${args.map((_, i) => `$${i + 1}`).join(", ")})`, args);

/** Status changes of the directive, as "from->to". */
async function moves(c: PoolClient, id: string): Promise<string[]> {
  return (await eventsOf(c, id)).filter((e) => e.kind === "status_changed").map((e) => `${e.from_status}->${e.to_status}`);
}

/** A started directive whose step a failed for good, with b blocked: idle, nothing to run. */
async function idleOnFailure(c: PoolClient) {
  const x = await setup(c, chain("a", "b"));
  await call(c, "fail_step", x.s.a!.id);
  assert.equal((await directive(c, x.d.id)).status, "idle");
  return x;
}

describe("going idle", () => {
  it("goes idle when its last open step completes, stamping idle_at", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await runStep(c, s.a!.id);
      assert.equal((await directive(c, d.id)).status, "active");
      await runStep(c, s.b!.id);
      assert.equal((await directive(c, d.id)).status, "idle");
      assert.ok((await q<{ idle_at: Date }>(c, "select idle_at from baton.directives where id = $1", [d.id])).idle_at);
      assert.deepEqual(await moves(c, d.id), ["draft->active", "active->idle"]);
    }));

  it("goes idle when the last open step is skipped", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await call(c, "skip_step", s.a!.id);
      assert.equal((await directive(c, d.id)).status, "idle");
    }));

  it("goes idle when every remaining step is blocked by a failure", () =>
    withRootDb(db, async (c) => {
      const { d } = await idleOnFailure(c);
      assert.equal((await directive(c, d.id)).open_steps, 0);
    }));

  it("stays active while a step runs", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await call(c, "complete_step", s.a!.id);
      await startStep(c, s.b!.id);
      assert.equal((await directive(c, d.id)).status, "active");
    }));

  it("stays active while its goal has not been planned, and while a planner runs", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      assert.equal((await directive(c, d.id)).status, "active");
      await c.query("select baton.create_planning_task($1)", [d.id]);
      assert.equal((await directive(c, d.id)).status, "active");
    }));

  it("does not go idle while paused, but at once when resumed with nothing to do", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await call(c, "pause_directive", d.id);
      await call(c, "complete_step", s.a!.id);
      assert.equal((await directive(c, d.id)).status, "paused");
      await call(c, "start_directive", d.id);
      assert.equal((await directive(c, d.id)).status, "idle");
    }));
});

describe("waking up from idle", () => {
  it("wakes up on a goal update and asks for a re-plan", () =>
    withRootDb(db, async (c) => {
      const { d } = await idleOnFailure(c);
      await call(c, "update_goal", d.id, "Try something else");
      assert.equal((await directive(c, d.id)).status, "active");
      assert.equal(await jobCount(c, "replan_directive", `plan:${d.id}:2`), 1);
    }));

  it("wakes up on new steps and dispatches the ready ones", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await runStep(c, s.a!.id);
      assert.equal((await directive(c, d.id)).status, "idle");
      const added = (await q<{ id: string }>(c, "select * from baton.add_step($1, 'more', depends_on => $2)", [d.id, [s.a!.id]])).id;
      assert.equal((await directive(c, d.id)).status, "active");
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${added}:1`), 1);
    }));

  it("wakes up on a retry and dispatches the retried step", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await idleOnFailure(c);
      await call(c, "retry_step", s.b!.id);
      assert.equal((await directive(c, d.id)).status, "active");
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending" });
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:1`), 1);
    }));

  it("wakes up when a failed step is skipped or completed and its dependents can run", () =>
    withRootDb(db, async (c) => {
      for (const fn of ["skip_step", "complete_step"]) {
        await c.query("savepoint each");
        const { d, s } = await idleOnFailure(c);
        await call(c, fn, s.a!.id);
        assert.equal((await directive(c, d.id)).status, "active", fn);
        assert.equal((await statuses(c, d.id)).b, "ready");
        await c.query("rollback to savepoint each");
      }
    }));

  it("wakes up when re-wiring frees a blocked step", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await idleOnFailure(c);
      await call(c, "set_step_dependencies", s.b!.id, []);
      assert.equal((await statuses(c, d.id)).b, "ready");
      assert.equal((await directive(c, d.id)).status, "active");
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.b!.id}:1`), 1);
    }));

  it("wakes up when removing a failed step with force frees its dependents", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await idleOnFailure(c);
      await call(c, "remove_step", s.a!.id, true);
      assert.deepEqual(await statuses(c, d.id), { b: "ready" });
      assert.equal((await directive(c, d.id)).status, "active");
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.b!.id}:1`), 1);
    }));
});

describe("staying idle", () => {
  it("stays idle, without flapping, when the new steps are all blocked", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await idleOnFailure(c);
      const before = await moves(c, d.id);
      await c.query("select baton.add_step($1, 'after a', depends_on => $2)", [d.id, [s.a!.id]]);
      assert.equal((await directive(c, d.id)).status, "idle");
      assert.deepEqual(await moves(c, d.id), before, "no idle -> active -> idle");
    }));

  it("stays idle, without flapping, when a failed step nobody depends on is skipped", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await call(c, "fail_step", s.a!.id);
      assert.equal((await directive(c, d.id)).status, "idle");
      const before = await moves(c, d.id);
      await call(c, "skip_step", s.a!.id);
      assert.equal((await directive(c, d.id)).status, "idle");
      assert.deepEqual(await moves(c, d.id), before);
    }));

  it("stays idle, without flapping, when re-wiring leaves the step blocked", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ key: "x", name: "x" }, { key: "y", name: "y" }, { name: "z", dependsOn: ["x", "y"] }]);
      await call(c, "fail_step", s.x!.id);
      await call(c, "complete_step", s.y!.id);
      assert.equal((await directive(c, d.id)).status, "idle");
      const before = await moves(c, d.id);
      await call(c, "set_step_dependencies", s.z!.id, [s.x!.id]);
      assert.equal((await statuses(c, d.id)).z, "blocked");
      assert.equal((await directive(c, d.id)).status, "idle");
      assert.deepEqual(await moves(c, d.id), before);
    }));
});
