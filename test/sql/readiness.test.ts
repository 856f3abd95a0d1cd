/*
 * Readiness: a step is ready exactly when every dependency is completed or skipped, kept by the
 * remaining_deps counter. Shapes: a chain, a diamond, a 1 -> 500 -> 1 fan-out/fan-in, several roots.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { diamond, runStep, statuses, step } from "../helpers/fixtures";
import { chain, jobCount, q, setup } from "./support";

const db = useTestDatabase();

const complete = (c: PoolClient, id: string) => c.query("select baton.complete_step($1)", [id]);

async function countByStatus(c: PoolClient, directiveId: string): Promise<Record<string, number>> {
  const r = await c.query("select status, count(*)::int as n from baton.directive_steps where directive_id = $1 group by 1", [directiveId]);
  return Object.fromEntries(r.rows.map((x) => [x.status, x.n]));
}

describe("readiness on a chain", () => {
  it("has only its first step ready, and readies each next step as the previous completes", () =>
    withRootDb(db, async (c) => {
      const names = ["s1", "s2", "s3", "s4", "s5"];
      const { d, s } = await setup(c, chain(...names));
      assert.deepEqual(await statuses(c, d.id), { s1: "ready", s2: "pending", s3: "pending", s4: "pending", s5: "pending" });
      for (let i = 0; i < names.length; i++) {
        await runStep(c, s[names[i]!]!.id);
        const now = await statuses(c, d.id);
        names.forEach((n, j) => assert.equal(now[n], j <= i ? "completed" : j === i + 1 ? "ready" : "pending", `${n} after ${names[i]}`));
      }
    }));

  it("counts one remaining dependency per step of the chain", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, chain("a", "b", "c"));
      assert.deepEqual([(await step(c, s.a!.id)).remaining_deps, (await step(c, s.b!.id)).remaining_deps, (await step(c, s.c!.id)).remaining_deps], [0, 1, 1]);
    }));
});

describe("readiness on a diamond", () => {
  it("readies the join only after both branches complete", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, diamond());
      await runStep(c, s.a!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "completed", b: "ready", c: "ready", d: "pending" });
      assert.equal((await step(c, s.d!.id)).remaining_deps, 2);
      await runStep(c, s.c!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "completed", b: "ready", c: "completed", d: "pending" });
      assert.equal((await step(c, s.d!.id)).remaining_deps, 1);
      await runStep(c, s.b!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "completed", b: "completed", c: "completed", d: "ready" });
      assert.equal((await step(c, s.d!.id)).remaining_deps, 0);
    }));

  it("counts a skipped branch as satisfied", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, diamond());
      await complete(c, s.a!.id);
      await c.query("select baton.skip_step($1)", [s.b!.id]);
      await complete(c, s.c!.id);
      assert.equal((await statuses(c, d.id)).d, "ready");
    }));
});

describe("readiness on a 1 -> 500 -> 1 fan-out and fan-in", () => {
  it("readies all 500 at once, and the join only after the 500th", () =>
    withRootDb(db, async (c) => {
      const middle = Array.from({ length: 500 }, (_, i) => ({ key: `m${i}`, name: `m${i}`, dependsOn: ["root"] }));
      const { d, s } = await setup(c, [
        { key: "root", name: "root" },
        ...middle,
        { key: "join", name: "join", dependsOn: middle.map((m) => m.key) },
      ]);
      assert.equal((await step(c, s.join!.id)).remaining_deps, 500);
      assert.deepEqual(await countByStatus(c, d.id), { ready: 1, pending: 501 });

      await complete(c, s.root!.id);
      assert.deepEqual(await countByStatus(c, d.id), { completed: 1, ready: 500, pending: 1 });
      // The root was completed by hand (no task): the directive's one job serves each of the 500.
      assert.equal(await jobCount(c, "dispatch_step"), 500, "each of the 500");

      // Complete 499 of them in one statement, then the last one.
      await c.query("select baton.complete_step(id) from baton.directive_steps where directive_id = $1 and name like 'm%' and name <> 'm250'", [d.id]);
      assert.equal((await step(c, s.join!.id)).remaining_deps, 1);
      assert.equal((await step(c, s.join!.id)).status, "pending");
      await complete(c, s.m250!.id);
      assert.equal((await step(c, s.join!.id)).status, "ready");
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.join!.id}:1`), 1);
      assert.equal((await q<{ open_steps: number }>(c, "select open_steps from baton.directives where id = $1", [d.id])).open_steps, 1);
    }));
});

describe("readiness with several roots", () => {
  it("readies every root at once and waits for all the roots a step depends on", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [
        { key: "r1", name: "r1" },
        { key: "r2", name: "r2" },
        { key: "r3", name: "r3" },
        { key: "x", name: "x", dependsOn: ["r1", "r2"] },
        { key: "y", name: "y", dependsOn: ["r3"] },
      ]);
      assert.deepEqual(await statuses(c, d.id), { r1: "ready", r2: "ready", r3: "ready", x: "pending", y: "pending" });
      await runStep(c, s.r3!.id);
      await runStep(c, s.r1!.id);
      assert.deepEqual(await statuses(c, d.id), { r1: "completed", r2: "ready", r3: "completed", x: "pending", y: "ready" });
      await runStep(c, s.r2!.id);
      assert.equal((await statuses(c, d.id)).x, "ready");
    }));
});

describe("readiness of steps added later", () => {
  it("makes a step on completed dependencies ready at once, and one on open dependencies pending", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "done" }, { name: "open" }]);
      await complete(c, s.done!.id);
      const r = await c.query("select * from baton.batch_add_steps($1, $2)", [
        d.id,
        JSON.stringify([{ name: "late1", dependsOn: [s.done!.id] }, { name: "late2", dependsOn: [s.done!.id, s.open!.id] }]),
      ]);
      assert.deepEqual(r.rows.map((x) => [x.name, x.status, x.remaining_deps]), [["late1", "ready", 0], ["late2", "pending", 1]]);
    }));

  it("keeps the open-step count equal to the pending, ready and running steps", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, diamond());
      const check = async () => {
        const r = await q<{ open_steps: number; actual: number }>(
          c,
          `select d.open_steps, (select count(*)::int from baton.directive_steps s where s.directive_id = d.id and s.status in ('pending', 'ready', 'running')) as actual
             from baton.directives d where d.id = $1`,
          [d.id],
        );
        assert.equal(r.open_steps, r.actual);
      };
      await check();
      await runStep(c, s.a!.id);
      await check();
      await c.query("select baton.fail_step($1)", [s.b!.id]);
      await check();
      await c.query("select baton.retry_step($1)", [s.d!.id]);
      await check();
      await c.query("select baton.skip_step($1)", [s.c!.id]);
      await check();
      await c.query("select baton.remove_step($1)", [s.d!.id]);
      await check();
    }));
});
