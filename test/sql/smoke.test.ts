import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, createDirective, createOwner, diamond, runStep, statuses } from "../helpers/fixtures";

const db = useTestDatabase();

describe("a diamond", () => {
  it("becomes ready in dependency order", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      const d = await createDirective(c, owner, { start: false });
      const s = await addSteps(c, d.id, diamond());
      await c.query("select baton.start_directive($1)", [d.id]);
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending", c: "pending", d: "pending" });
      await runStep(c, s.a!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "completed", b: "ready", c: "ready", d: "pending" });
    }));
});
