/*
 * remove_step refuses completed and running steps (000022), for every caller and with or without
 * force, with BTSTS naming the step, its status and what to do instead; the refusal writes nothing.
 * Other statuses are removed as before.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { statuses, step } from "../helpers/fixtures";
import { chain, setup, startStep, writesNothing } from "./support";

const db = useTestDatabase();

describe("remove_step on a completed or running step", () => {
  for (const force of [false, true]) {
    it(`refuses a completed step${force ? " with force" : ""} (BTSTS), and writes nothing`, () =>
      withRootDb(db, async (c) => {
        const { s } = await setup(c, chain("a", "b"));
        await c.query("select baton.complete_step($1)", [s.a!.id]);
        const e = await assertDbError(
          writesNothing(c, () => c.query("select baton.remove_step($1, force => $2)", [s.a!.id, force])),
          "BTSTS",
          `Step ${s.a!.id} ("a") is completed, so it cannot be removed: completed and running steps stay.`,
        );
        assert.equal((e as { hint?: string }).hint, "To change or undo its work, add a new step (it may depend on this one).");
        assert.equal((await step(c, s.a!.id)).status, "completed");
      }));

    it(`refuses a running step${force ? " with force" : ""} (BTSTS), leaving its task running`, () =>
      withRootDb(db, async (c) => {
        const { s } = await setup(c, [{ name: "a" }]);
        const t = await startStep(c, s.a!.id);
        const e = await assertDbError(
          writesNothing(c, () => c.query("select baton.remove_step($1, force => $2)", [s.a!.id, force])),
          "BTSTS",
          `Step ${s.a!.id} ("a") is running, so it cannot be removed: completed and running steps stay.`,
        );
        assert.equal(
          (e as { hint?: string }).hint,
          `Stop it first with \`baton directive fail-step ${s.a!.id}\` (or skip-step), then remove it; or let it finish and add a new step.`,
        );
        assert.equal((await c.query("select status from baton.tasks where id = $1", [t.id])).rows[0].status, "running");
      }));
  }

  it("removes a running step once it is failed by hand, as the hint says", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }, { name: "b" }]);
      await startStep(c, s.a!.id);
      await c.query("select baton.fail_step($1)", [s.a!.id]);
      await c.query("select baton.remove_step($1)", [s.a!.id]);
      assert.deepEqual(await statuses(c, d.id), { b: "ready" });
    }));
});
