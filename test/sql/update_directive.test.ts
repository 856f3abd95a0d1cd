/*
 * baton.update_directive (sql/000029): several settings of a directive in one call, all or nothing,
 * each through its own setter with that setter's message.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, inSavepoint, useTestDatabase, withRootDb } from "../helpers/db";
import { q, setup } from "./support";

const db = useTestDatabase();

type Settings = { check_command: string | null; target_branch: string; timeout_seconds: number | null; budget_usd: string | null; budget_tokens: string | null; max_parallel: number | null; priority: number; review_plans: boolean };
const settingsOf = (c: PoolClient, id: string) =>
  q<Settings>(c, "select check_command, target_branch, timeout_seconds, budget_usd::text, budget_tokens::text, max_parallel, priority, review_plans from baton.directives where id = $1", [id]);
const update = (c: PoolClient, id: string, settings: unknown) => c.query("select * from baton.update_directive($1, $2)", [id, JSON.stringify(settings)]);

describe("update_directive", () => {
  it("applies every setting given in one call, and null removes one", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a" }]);
      await update(c, d.id, { check: "npm test", target_branch: "feature/x", timeout_seconds: 600, budget_usd: 25, max_parallel: 3, priority: 5, review_plans: true });
      assert.deepEqual(await settingsOf(c, d.id), {
        check_command: "npm test", target_branch: "feature/x", timeout_seconds: 600, budget_usd: "25.000000", budget_tokens: null, max_parallel: 3, priority: 5, review_plans: true,
      });
      await update(c, d.id, { check: null, timeout_seconds: null, max_parallel: null });
      const after = await settingsOf(c, d.id);
      assert.deepEqual([after.check_command, after.timeout_seconds, after.max_parallel, after.target_branch], [null, null, null, "feature/x"]);
    }));

  it("keeps the other budget when one is given alone", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a" }]);
      await update(c, d.id, { budget_usd: 10, budget_tokens: 5000 });
      await update(c, d.id, { budget_usd: 12.5 });
      const s = await settingsOf(c, d.id);
      assert.deepEqual([s.budget_usd, s.budget_tokens], ["12.500000", "5000"]);
    }));

  it("changes nothing when one setting is refused, with that setter's message", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a" }]);
      const before = await settingsOf(c, d.id);
      await assertDbError(
        inSavepoint(c, () => update(c, d.id, { target_branch: "feature/x", max_parallel: 2, check: "   " })),
        "BTINV",
        'The check is empty; give a shell command such as "npm test", or leave the check out.',
      );
      assert.deepEqual(await settingsOf(c, d.id), before, "neither the branch nor the limit was applied");
    }));

  it("refuses an unknown setting, a wrong type, a fraction and an empty object, naming what is wrong", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a" }]);
      const known = "budget_tokens, budget_usd, check, max_parallel, on_complete, priority, review_plans, stall_seconds, target_branch, timeout_seconds";
      await assertDbError(inSavepoint(c, () => update(c, d.id, { check: "npm test", colour: "blue" })), "BTINV", `"colour" is not a directive setting; the settings are ${known}.`);
      await assertDbError(inSavepoint(c, () => update(c, d.id, { max_parallel: "4" })), "BTINV", 'The setting max_parallel must be a number or null (got "4").');
      await assertDbError(inSavepoint(c, () => update(c, d.id, { timeout_seconds: 1.5 })), "BTINV", "The setting timeout_seconds must be a whole number in range (got 1.5).");
      await assertDbError(inSavepoint(c, () => update(c, d.id, { review_plans: null })), "BTINV", "The setting review_plans must be true or false (got null).");
      await assertDbError(
        inSavepoint(c, () => update(c, d.id, {})),
        "BTINV",
        `Give at least one setting to change, as a JSON object such as {"check": "npm test", "max_parallel": 4}; the settings are ${known}.`,
      );
    }));
});
