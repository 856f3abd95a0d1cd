/*
 * The manual step transitions: complete_step, fail_step, skip_step and retry_step, from each of the
 * seven step statuses. Each legal move is checked for its effect, each illegal one for its message,
 * code and for writing nothing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { createTask, step } from "../helpers/fixtures";
import { chain, eventsOf, setup, startStep, task, writesNothing } from "./support";

const db = useTestDatabase();

const STATUSES = ["pending", "ready", "running", "completed", "failed", "skipped", "blocked"] as const;
type StepStatus = (typeof STATUSES)[number];

/**
 * A chain up -> target -> down, with target brought to `status` through the public functions.
 * Returns the ids.
 */
async function stepIn(c: PoolClient, status: StepStatus): Promise<{ directiveId: string; up: string; target: string; down: string }> {
  const { d, s } = await setup(c, chain("up", "target", "down"));
  const [up, target, down] = [s.up!.id, s.target!.id, s.down!.id];
  if (status !== "pending" && status !== "blocked") await c.query("select baton.complete_step($1)", [up]);
  if (status === "blocked") await c.query("select baton.fail_step($1)", [up]);
  if (status === "running") await startStep(c, target);
  if (status === "completed") await c.query("select baton.complete_step($1)", [target]);
  if (status === "failed") await c.query("select baton.fail_step($1)", [target]);
  if (status === "skipped") await c.query("select baton.skip_step($1)", [target]);
  assert.equal((await step(c, target)).status, status);
  return { directiveId: d.id, up, target, down };
}

const ALLOWED: Record<string, { verb: string; to: string; from: StepStatus[] }> = {
  complete_step: { verb: "completed", to: "completed", from: ["pending", "ready", "running", "failed", "blocked"] },
  fail_step: { verb: "failed", to: "failed", from: ["pending", "ready", "running", "blocked"] },
  skip_step: { verb: "skipped", to: "skipped", from: ["pending", "ready", "running", "failed", "blocked"] },
};

for (const [fn, { verb, to, from }] of Object.entries(ALLOWED)) {
  describe(fn, () => {
    for (const status of STATUSES) {
      if (from.includes(status)) {
        it(`moves a ${status} step to ${to}`, () =>
          withRootDb(db, async (c) => {
            const { target } = await stepIn(c, status);
            const r = (await c.query(`select * from baton.${fn}($1)`, [target])).rows[0];
            assert.equal(r.status, to);
            assert.equal((await step(c, target)).status, to);
            assert.deepEqual((await eventsOf(c, target)).at(-1)?.to_status, to);
          }));
      } else {
        it(`refuses a ${status} step (BTSTS) and writes nothing`, () =>
          withRootDb(db, async (c) => {
            const { target } = await stepIn(c, status);
            const e = await assertDbError(
              writesNothing(c, () => c.query(`select * from baton.${fn}($1)`, [target])),
              "BTSTS",
              `Step ${target} is ${status}, so it cannot be ${verb}; only ${from.join(", ")} steps can.`,
            );
            assert.equal((e as { detail?: string }).detail, `from=${status} to=${to} allowed={${from.join(",")}}`);
            assert.equal(
              (e as { hint?: string }).hint,
              status === "failed" ? "Use retry-step to run it again." : "Completed and skipped steps are final; add a new step (add-step) to do more.",
            );
          }));
      }
    }

    it("refuses an unknown step (BTNFD)", () =>
      withRootDb(db, async (c) => {
        const ghost = "00000000-0000-4000-8000-0000000000b1";
        const e = await assertDbError(c.query(`select * from baton.${fn}($1)`, [ghost]), "BTNFD", `Step ${ghost} does not exist.`);
        assert.equal((e as { hint?: string }).hint, "See the steps of a directive with `baton directive status`.");
      }));
  });
}

describe("retry_step", () => {
  for (const status of STATUSES) {
    if (status === "failed") {
      it("makes a failed step ready again with a fresh round of attempts", () =>
        withRootDb(db, async (c) => {
          const { target } = await stepIn(c, status);
          const r = (await c.query("select * from baton.retry_step($1)", [target])).rows[0];
          assert.equal(r.status, "ready");
          assert.equal(r.attempts, 0);
        }));
    } else if (status === "blocked") {
      it("retries the failed step a blocked step waits on", () =>
        withRootDb(db, async (c) => {
          const { up, target } = await stepIn(c, status);
          const r = (await c.query("select * from baton.retry_step($1)", [target])).rows[0];
          assert.equal(r.status, "pending");
          assert.equal((await step(c, up)).status, "ready");
        }));
    } else {
      it(`refuses a ${status} step (BTSTS) and writes nothing`, () =>
        withRootDb(db, async (c) => {
          const { target } = await stepIn(c, status);
          const e = await assertDbError(
            writesNothing(c, () => c.query("select * from baton.retry_step($1)", [target])),
            "BTSTS",
            `Step ${target} is ${status}, so it cannot be retried; only failed or blocked steps can.`,
          );
          assert.equal((e as { detail?: string }).detail, `from=${status} to=ready allowed={failed,blocked}`);
        }));
    }
  }
});

describe("a manual override of a step with a task", () => {
  for (const fn of ["complete_step", "fail_step", "skip_step"]) {
    it(`cancels the running task, and the daemon is told to stop (${fn})`, () =>
      withRootDb(db, async (c) => {
        const { target } = await stepIn(c, "running");
        const t = (await c.query("select * from baton.tasks where step_id = $1", [target])).rows[0];
        await c.query(`select baton.${fn}($1)`, [target]);
        const after = await task(c, t.id);
        assert.equal(after.status, "cancelled");
        const verb = ALLOWED[fn]!.verb;
        assert.equal(after.error, `The step was ${verb} by hand.`);
        // The step keeps the status it was given; the cancelled task does not give the attempt back.
        assert.equal((await step(c, target)).status, verb);
      }));
  }

  it("cancels a pending task of a ready step", () =>
    withRootDb(db, async (c) => {
      const { target } = await stepIn(c, "ready");
      const t = await createTask(c, target);
      await c.query("select baton.skip_step($1)", [target]);
      assert.equal((await task(c, t.id)).status, "cancelled");
      assert.equal((await step(c, target)).status, "skipped");
    }));
});
