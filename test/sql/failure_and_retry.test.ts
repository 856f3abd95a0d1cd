/*
 * Failure and recovery: a failed step blocks its transitive dependents; retrying, skipping or
 * completing it unblocks them. Attempts: a failed or interrupted attempt below max_attempts makes the
 * step ready again, at the limit the step fails; a cancelled task gives its attempt back.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { createTask, diamond, report, runStep, statuses, step } from "../helpers/fixtures";
import { chain, jobCount, q, setup, startStep } from "./support";

const db = useTestDatabase();

const call = (c: PoolClient, fn: string, id: string) => c.query(`select baton.${fn}($1)`, [id]);

type Attempts = { status: string; attempts: number; total_attempts: number };
const attempts = (c: PoolClient, id: string) =>
  q<Attempts>(c, "select status, attempts, total_attempts from baton.directive_steps where id = $1", [id]);

describe("failure blocks dependents", () => {
  it("blocks every transitive dependent of a failed step, and nothing else", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [
        { key: "a", name: "a" },
        { key: "b", name: "b", dependsOn: ["a"] },
        { key: "c", name: "c", dependsOn: ["b"] },
        { key: "side", name: "side" },
        { key: "j", name: "j", dependsOn: ["c", "side"] },
      ]);
      await runStep(c, s.a!.id, "failed");
      await runStep(c, s.a!.id, "failed");
      assert.deepEqual(await statuses(c, d.id), { a: "failed", b: "blocked", c: "blocked", side: "ready", j: "blocked" });
    }));

  it("blocks only the failed branch of a diamond and the join", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, diamond());
      await call(c, "complete_step", s.a!.id);
      await call(c, "fail_step", s.b!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "completed", b: "failed", c: "ready", d: "blocked" });
      // The other branch completing does not unblock the join.
      await runStep(c, s.c!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "completed", b: "failed", c: "completed", d: "blocked" });
    }));

  it("keeps a blocked step's counter, so it is ready as soon as the failure is resolved", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, diamond());
      await call(c, "complete_step", s.a!.id);
      await call(c, "fail_step", s.b!.id);
      await call(c, "complete_step", s.c!.id);
      assert.equal((await step(c, s.d!.id)).remaining_deps, 1);
      await call(c, "retry_step", s.b!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "completed", b: "ready", c: "completed", d: "pending" });
      await runStep(c, s.b!.id);
      assert.equal((await statuses(c, d.id)).d, "ready");
    }));
});

describe("retry_step", () => {
  it("makes the failed step ready and its blocked dependents pending again", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b", "c"));
      await call(c, "fail_step", s.a!.id);
      await call(c, "retry_step", s.a!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending", c: "pending" });
    }));

  it("on a blocked step retries the failed ancestor it waits on", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b", "c"));
      await runStep(c, s.a!.id, "failed");
      await runStep(c, s.a!.id, "failed");
      const r = await q<{ id: string; status: string }>(c, "select * from baton.retry_step($1)", [s.c!.id]);
      assert.deepEqual({ id: r.id, status: r.status }, { id: s.c!.id, status: "pending" }, "returns the retried step as it is now");
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending", c: "pending" });
      assert.equal((await attempts(c, s.a!.id)).attempts, 0);
    }));

  it("on a blocked step retries every failed ancestor, also one failed by hand while blocked", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b", "c"));
      await call(c, "fail_step", s.a!.id);
      await call(c, "fail_step", s.b!.id); // b was blocked; now it is failed too
      assert.deepEqual(await statuses(c, d.id), { a: "failed", b: "failed", c: "blocked" });
      await call(c, "retry_step", s.c!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending", c: "pending" });
    }));

  it("on a failed step that waits on another failed step retries that one too", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b", "c"));
      await call(c, "fail_step", s.a!.id);
      await call(c, "fail_step", s.b!.id);
      await call(c, "retry_step", s.b!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending", c: "pending" });
    }));

  it("leaves failed steps it does not wait on alone", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ key: "a", name: "a" }, { key: "b", name: "b", dependsOn: ["a"] }, { key: "other", name: "other" }]);
      await call(c, "fail_step", s.a!.id);
      await call(c, "fail_step", s.other!.id);
      await call(c, "retry_step", s.b!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending", other: "failed" });
    }));

  it("starts a new round of attempts but keeps numbering tasks", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      await runStep(c, s.a!.id, "failed");
      await runStep(c, s.a!.id, "failed");
      assert.deepEqual(await attempts(c, s.a!.id), { status: "failed", attempts: 2, total_attempts: 2 });
      await call(c, "retry_step", s.a!.id);
      assert.deepEqual(await attempts(c, s.a!.id), { status: "ready", attempts: 0, total_attempts: 2 });
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:3`), 1, "attempt 3 is queued");
      const t = await createTask(c, s.a!.id);
      assert.equal(t.attempt, 3);
    }));
});

describe("skip and complete by hand", () => {
  it("skipping a step satisfies its dependents", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await call(c, "skip_step", s.a!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "skipped", b: "ready" });
    }));

  it("skipping a failed step unblocks its dependents", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b", "c"));
      await call(c, "fail_step", s.a!.id);
      await call(c, "skip_step", s.a!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "skipped", b: "ready", c: "pending" });
    }));

  it("skipping a blocked step lets its own dependents go on", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b", "c"));
      await call(c, "fail_step", s.a!.id);
      await call(c, "skip_step", s.b!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "failed", b: "skipped", c: "ready" });
    }));

  it("completing a failed step by hand unblocks and readies its dependents", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b", "c"));
      await call(c, "fail_step", s.a!.id);
      await call(c, "complete_step", s.a!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "completed", b: "ready", c: "pending" });
    }));

  it("keeps a dependent blocked while another of its dependencies is still failed", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ key: "x", name: "x" }, { key: "y", name: "y" }, { name: "z", dependsOn: ["x", "y"] }]);
      await call(c, "fail_step", s.x!.id);
      await call(c, "fail_step", s.y!.id);
      await call(c, "skip_step", s.x!.id);
      assert.deepEqual(await statuses(c, d.id), { x: "skipped", y: "failed", z: "blocked" });
      await call(c, "retry_step", s.y!.id);
      assert.deepEqual(await statuses(c, d.id), { x: "skipped", y: "ready", z: "pending" });
    }));
});

describe("automatic retry of attempts", () => {
  for (const outcome of ["failed", "interrupted"] as const) {
    it(`makes the step ready again after a first ${outcome} attempt, and fails it at max_attempts (2)`, () =>
      withRootDb(db, async (c) => {
        const { d, s } = await setup(c, chain("a", "b"));
        await startStep(c, s.a!.id).then((t) => report(c, t.id, outcome, { error: "boom" }));
        assert.deepEqual(await attempts(c, s.a!.id), { status: "ready", attempts: 1, total_attempts: 1 });
        assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:2`), 1, "the next attempt is dispatched once");
        assert.equal((await statuses(c, d.id)).b, "pending");

        await startStep(c, s.a!.id).then((t) => report(c, t.id, outcome, { error: "boom again" }));
        assert.deepEqual(await attempts(c, s.a!.id), { status: "failed", attempts: 2, total_attempts: 2 });
        assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:3`), 0);
        assert.equal((await statuses(c, d.id)).b, "blocked");
      }));
  }

  it("honours a step's own max_attempts", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      await c.query("update baton.directive_steps set max_attempts = 3 where id = $1", [s.a!.id]);
      await runStep(c, s.a!.id, "failed");
      await runStep(c, s.a!.id, "failed");
      assert.equal((await attempts(c, s.a!.id)).status, "ready");
      await runStep(c, s.a!.id, "failed");
      assert.deepEqual(await attempts(c, s.a!.id), { status: "failed", attempts: 3, total_attempts: 3 });
    }));

  it("gives the attempt back when a task is cancelled", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      const t = await startStep(c, s.a!.id);
      await report(c, t.id, "cancelled");
      assert.deepEqual(await attempts(c, s.a!.id), { status: "ready", attempts: 0, total_attempts: 1 });
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:2`), 1);
      // Cancelled twice still leaves the full round of attempts.
      await report(c, (await createTask(c, s.a!.id)).id, "cancelled");
      await runStep(c, s.a!.id, "failed");
      assert.deepEqual(await attempts(c, s.a!.id), { status: "ready", attempts: 1, total_attempts: 3 });
    }));

  it("gives the attempt back when a pending task is cancelled", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      const t = await createTask(c, s.a!.id);
      await report(c, t.id, "cancelled");
      assert.deepEqual(await attempts(c, s.a!.id), { status: "ready", attempts: 0, total_attempts: 1 });
    }));
});
