/*
 * The step state machine (sql/000004_steps.sql): step_transition_allowed and its _200_guard trigger.
 * Every pair of statuses is tried with a DBA's direct UPDATE: the legal ones are accepted, every
 * illegal one is refused with BTSTS and a message naming both states. Also the invariant the guard
 * enforces (a ready, running or completed step waits for nothing), and the block/unblock walks that
 * replaced the `baton.propagating` flag.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { statuses, step } from "../helpers/fixtures";
import { andUndo, chain, orList, q, setup, startStep, transitionMatrix, writesNothing } from "./support";

const db = useTestDatabase();

const ALL = ["pending", "ready", "running", "completed", "failed", "skipped", "blocked"] as const;
type StepStatus = (typeof ALL)[number];

/** The machine as this test expects it (sql/000004_steps.sql's diagram). */
const LEGAL: Record<StepStatus, StepStatus[]> = {
  pending: ["ready", "completed", "failed", "skipped", "blocked"],
  ready: ["pending", "running", "completed", "failed", "skipped", "blocked"],
  running: ["ready", "completed", "failed", "skipped"],
  completed: [],
  failed: ["pending", "ready", "completed", "skipped", "blocked"],
  skipped: [],
  blocked: ["pending", "ready", "completed", "failed", "skipped"],
};

/** A step in the given status, reached through the public functions: `a` of a chain a -> b, or `b` for pending and blocked. */
async function stepIn(c: PoolClient, status: StepStatus): Promise<string> {
  const { s } = await setup(c, chain("a", "b"));
  const a = s.a!.id;
  const b = s.b!.id;
  let id = a;
  if (status === "pending") id = b;
  if (status === "running") await startStep(c, a);
  if (status === "completed") await c.query("select baton.complete_step($1)", [a]);
  if (status === "failed") await c.query("select baton.fail_step($1)", [a]);
  if (status === "skipped") await c.query("select baton.skip_step($1)", [a]);
  if (status === "blocked") {
    await c.query("select baton.fail_step($1)", [a]);
    id = b;
  }
  assert.equal((await step(c, id)).status, status);
  return id;
}

const refusal = (id: string, from: StepStatus, to: StepStatus) =>
  from === "completed" || from === "skipped"
    ? `Step ${id} is ${from}, so it cannot become ${to}; completed and skipped steps are final.`
    : `Step ${id} is ${from}, so it cannot become ${to}; from ${from} it can become ${orList(ALL.filter((x) => LEGAL[from].includes(x)))}.`;

describe("a DBA's direct UPDATE of a step's status", () => {
  for (const from of ALL) {
    const pairs = transitionMatrix(ALL, LEGAL).filter((p) => p.from === from);
    it(`from ${from}: accepts ${LEGAL[from].join(", ") || "nothing"}; refuses ${pairs.filter((p) => !p.legal).map((p) => p.to).join(", ")} (BTSTS)`, () =>
      withRootDb(db, async (c) => {
        const id = await stepIn(c, from);
        for (const { to, legal } of pairs) {
          if (legal) {
            // A legal move is accepted when the row stays consistent (no unmet dependency for ready, running, completed).
            await andUndo(c, async () => {
              const r = await q<{ status: string }>(
                c,
                `update baton.directive_steps set status = $2::baton.step_status,
                        remaining_deps = case when $2 in ('ready', 'running', 'completed') then 0 else remaining_deps end
                  where id = $1 returning status`,
                [id, to],
              );
              assert.equal(r.status, to, `${from} -> ${to} should be accepted`);
            });
          } else {
            const e = await assertDbError(
              writesNothing(c, () => c.query("update baton.directive_steps set status = $2 where id = $1", [id, to])),
              "BTSTS",
              refusal(id, from, to),
            );
            assert.equal((e as { detail?: string }).detail, `from=${from} to=${to}`);
          }
        }
      }));
  }

  it("refuses the issue's example: a completed step set back to pending", () =>
    withRootDb(db, async (c) => {
      const id = await stepIn(c, "completed");
      const e = await assertDbError(
        writesNothing(c, () => c.query("update baton.directive_steps set status = 'pending' where id = $1", [id])),
        "BTSTS",
        `Step ${id} is completed, so it cannot become pending; completed and skipped steps are final.`,
      );
      assert.equal((e as { hint?: string }).hint, "Add a new step (add-step) to do more.");
    }));
});

describe("the invariant: a ready, running or completed step waits for nothing", () => {
  for (const to of ["ready", "completed"] as const) {
    it(`refuses to make a step with unmet dependencies ${to}, instead of zeroing its counter (BTSTS)`, () =>
      withRootDb(db, async (c) => {
        const id = await stepIn(c, "pending");
        await assertDbError(
          writesNothing(c, () => c.query("update baton.directive_steps set status = $2 where id = $1", [id, to])),
          "BTSTS",
          `Step ${id} still waits for 1 of its dependencies, so it cannot become ${to}.`,
        );
        assert.equal((await step(c, id)).remaining_deps, 1);
      }));
  }

  it("lets complete_step complete a step that still waits: it settles the counter itself", () =>
    withRootDb(db, async (c) => {
      const id = await stepIn(c, "pending");
      const r = await q<{ status: string; remaining_deps: number }>(c, "select status, remaining_deps from baton.complete_step($1)", [id]);
      assert.deepEqual(r, { status: "completed", remaining_deps: 0 });
    }));
});

describe("blocking and unblocking walk the DAG once, without a coordination flag", () => {
  it("blocks a chain of 1,000 steps when its root fails, and unblocks it on retry", () =>
    withRootDb(db, async (c) => {
      const names = Array.from({ length: 1000 }, (_, i) => `s${i}`);
      const { d, s } = await setup(c, chain(...names));
      await c.query("select baton.fail_step($1)", [s.s0!.id]);
      const blocked = await statuses(c, d.id);
      assert.equal(Object.values(blocked).filter((x) => x === "blocked").length, 999);
      assert.equal(await q<{ v: string | null }>(c, "select current_setting('baton.propagating', true) as v").then((r) => r.v), null);
      await c.query("select baton.retry_step($1)", [s.s0!.id]);
      const after = await statuses(c, d.id);
      assert.equal(after.s0, "ready");
      assert.equal(Object.values(after).filter((x) => x === "pending").length, 999);
    }));

  it("unblocks only the dependents that have no other failed or blocked dependency", () =>
    withRootDb(db, async (c) => {
      // a and x are roots; b depends on a; c on b and x; e on c. Failing a and x blocks b, c, e;
      // retrying a frees b only: c still waits on the failed x, and e on c.
      const { d, s } = await setup(c, [
        { key: "a", name: "a" },
        { key: "x", name: "x" },
        { key: "b", name: "b", dependsOn: ["a"] },
        { key: "c", name: "c", dependsOn: ["b", "x"] },
        { key: "e", name: "e", dependsOn: ["c"] },
      ]);
      await c.query("select baton.fail_step($1)", [s.a!.id]);
      await c.query("select baton.fail_step($1)", [s.x!.id]);
      assert.deepEqual(await statuses(c, d.id), { a: "failed", x: "failed", b: "blocked", c: "blocked", e: "blocked" });
      await c.query("select baton.retry_step($1)", [s.a!.id]);
      assert.deepEqual(await statuses(c, d.id), { a: "ready", x: "failed", b: "pending", c: "blocked", e: "blocked" });
      await c.query("select baton.skip_step($1)", [s.x!.id]);
      assert.deepEqual(await statuses(c, d.id), { a: "ready", x: "skipped", b: "pending", c: "pending", e: "pending" });
    }));
});
