/*
 * Planning and re-planning. A directive needs a plan exactly while planned_revision differs from
 * goal_revision (and no planner is in flight): start enqueues plan_directive, a goal update
 * replan_directive; the planner's completion records the revision and generation it planned, so a
 * re-plan that only removes steps goes idle instead of looping. A failed planner pauses the directive.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, directive, report, runStep, type Task } from "../helpers/fixtures";
import { createDaemon, jobCount, jobsWithPayload, q, setup, writesNothing } from "./support";

const db = useTestDatabase();

type PlanningTask = Task & { generation: number; goal_revision: number; directive_id: string };
const plan = (c: PoolClient, id: string) => q<PlanningTask>(c, "select * from baton.create_planning_task($1, 'plan it')", [id]);
const steps = async (c: PoolClient, id: string) =>
  (await c.query("select name, generation from baton.directive_steps where directive_id = $1 order by name", [id])).rows.map((r) => [r.name, r.generation]);

/** A directive planned once (generation 1, steps a and b completed), now idle. */
async function plannedAndDone(c: PoolClient) {
  const { d } = await setup(c, []);
  const t = await plan(c, d.id);
  const s = await addSteps(c, d.id, [{ name: "a" }, { name: "b" }]);
  await report(c, t.id, "completed");
  await runStep(c, s.a!.id);
  await runStep(c, s.b!.id);
  assert.equal((await directive(c, d.id)).status, "idle");
  return { d, s };
}

describe("first plan", () => {
  it("enqueues one plan_directive for an active directive with no steps and no planner", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const planJobs = (await jobsWithPayload(c, "plan_directive")).filter((j) => j.payload.directive_id === d.id);
      assert.deepEqual(planJobs, [{ task_identifier: "plan_directive", key: `plan:${d.id}:1`, payload: { directive_id: d.id, goal_revision: 1 } }]);
    }));

  it("enqueues nothing for a draft, and plans it once started", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [], { start: false });
      assert.equal(await jobCount(c, "plan_directive"), 0);
      await c.query("select baton.start_directive($1)", [d.id]);
      assert.equal(await jobCount(c, "plan_directive", `plan:${d.id}:1`), 1);
    }));

  it("creates the planner for generation 1 and goal revision 1 and records it on the directive", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const t = await plan(c, d.id);
      assert.deepEqual({ kind: t.kind, status: t.status, generation: t.generation, goal_revision: t.goal_revision }, {
        kind: "planning",
        status: "pending",
        generation: 1,
        goal_revision: 1,
      });
      assert.equal((await directive(c, d.id)).orchestrator_task_id, t.id);
      assert.equal(await jobCount(c, "dispatch_task", `dispatch_task:${t.id}`), 1, "no daemon yet, so it waits for one");
    }));

  it("gives the planner to a connected daemon at once", () =>
    withRootDb(db, async (c) => {
      const { owner, d } = await setup(c, []);
      const daemon = await createDaemon(c, owner);
      const t = await plan(c, d.id);
      assert.equal(t.status, "starting");
      assert.equal(t.daemon_id, daemon);
    }));

  it("returns the planner in flight instead of creating a second one", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const first = await plan(c, d.id);
      const second = await plan(c, d.id);
      assert.equal(second.id, first.id);
      assert.equal((await q<{ n: number }>(c, "select count(*)::int as n from baton.tasks where directive_id = $1", [d.id])).n, 1);
    }));

  it("gives the steps added while the planner runs its generation", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await plan(c, d.id);
      await addSteps(c, d.id, [{ name: "a" }]);
      assert.deepEqual(await steps(c, d.id), [["a", 1]]);
    }));

  it("on completion records the planned revision and generation, frees the directive and runs the steps", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const t = await plan(c, d.id);
      const s = await addSteps(c, d.id, [{ name: "a" }]);
      await report(c, t.id, "completed");
      const after = await directive(c, d.id);
      assert.deepEqual(
        { status: after.status, planned: after.planned_revision, generation: after.current_generation, planner: after.orchestrator_task_id },
        { status: "active", planned: 1, generation: 1, planner: null },
      );
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:1`), 1);
    }));

  it("goes idle when the planner completes without adding steps", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await report(c, (await plan(c, d.id)).id, "completed");
      assert.equal((await directive(c, d.id)).status, "idle");
      assert.equal(await jobCount(c, "plan_directive"), 1, "no second plan");
    }));

  it("refuses to plan a directive that is planned already or not active (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a" }]);
      await assertDbError(
        writesNothing(c, () => plan(c, d.id)),
        "BTSTS",
        `Directive ${d.id} does not need planning: goal revision 1 is already planned.`,
      );
      const draft = await setup(c, [], { start: false });
      const e = await assertDbError(
        writesNothing(c, () => plan(c, draft.d.id)),
        "BTSTS",
        `Directive ${draft.d.id} is draft, so it cannot be planned now; only active directives are planned.`,
      );
      assert.equal((e as { hint?: string }).hint, "Start or resume it with `baton directive start`; it is planned then.");
    }));
});

describe("re-planning", () => {
  it("enqueues replan_directive on a goal update, and the re-planner gets generation max + 1", () =>
    withRootDb(db, async (c) => {
      const { d } = await plannedAndDone(c);
      await c.query("select baton.update_goal($1, 'Do more')", [d.id]);
      const replan = (await jobsWithPayload(c, "replan_directive")).filter((j) => j.payload.directive_id === d.id);
      assert.deepEqual(replan, [{ task_identifier: "replan_directive", key: `plan:${d.id}:2`, payload: { directive_id: d.id, goal_revision: 2 } }]);
      const t = await plan(c, d.id);
      assert.deepEqual({ generation: t.generation, goal_revision: t.goal_revision }, { generation: 2, goal_revision: 2 });
      await addSteps(c, d.id, [{ name: "c" }]);
      await report(c, t.id, "completed");
      assert.deepEqual(await steps(c, d.id), [["a", 1], ["b", 1], ["c", 2]]);
      const after = await directive(c, d.id);
      assert.deepEqual({ planned: after.planned_revision, generation: after.current_generation, status: after.status }, { planned: 2, generation: 2, status: "active" });
    }));

  it("numbers every re-plan with a new generation, also one that added no steps", () =>
    withRootDb(db, async (c) => {
      const { d } = await plannedAndDone(c);
      await c.query("select baton.update_goal($1, 'Do more')", [d.id]);
      await report(c, (await plan(c, d.id)).id, "completed"); // generation 2, adds nothing
      await c.query("select baton.update_goal($1, 'Do even more')", [d.id]);
      assert.equal((await plan(c, d.id)).generation, 3);
    }));

  it("asks for a re-plan once the planner in flight completes, when the goal changed meanwhile", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const t = await plan(c, d.id);
      await c.query("select baton.update_goal($1, 'Changed my mind')", [d.id]);
      assert.equal(await jobCount(c, "replan_directive"), 0, "not while a planner runs");
      await addSteps(c, d.id, [{ name: "a" }]);
      await report(c, t.id, "completed");
      const after = await directive(c, d.id);
      assert.equal(after.planned_revision, 1, "the planner planned revision 1");
      assert.equal(after.status, "active");
      assert.equal(await jobCount(c, "replan_directive", `plan:${d.id}:2`), 1);
    }));

  it("goes idle after a re-plan that only removes steps, and asks for no further plan", () =>
    withRootDb(db, async (c) => {
      const { d } = await plannedAndDone(c);
      // Completed steps stay (remove_step refuses them): the re-plan removes a skipped one.
      const extra = await addSteps(c, d.id, [{ name: "extra" }]);
      await c.query("select baton.skip_step($1)", [extra.extra!.id]);
      assert.equal((await directive(c, d.id)).status, "idle");
      await c.query("select baton.update_goal($1, 'Less is more')", [d.id]);
      const t = await plan(c, d.id);
      await c.query("select baton.remove_step($1)", [extra.extra!.id]);
      await report(c, t.id, "completed");
      const after = await directive(c, d.id);
      assert.deepEqual({ status: after.status, planned: after.planned_revision, goal: after.goal_revision }, { status: "idle", planned: 2, goal: 2 });
      assert.equal(await jobCount(c, "replan_directive"), 1, "only the one for the goal update");
      assert.equal(await jobCount(c, "plan_directive"), 1, "only the first plan");
      // Nothing periodic would plan it again either.
      assert.equal((await q<{ needs: boolean }>(c, "select baton_private.needs_planning(d) as needs from baton.directives d where id = $1", [d.id])).needs, false);
    }));
});

describe("a planner that does not complete", () => {
  for (const outcome of ["failed", "interrupted"] as const) {
    it(`pauses the directive when ${outcome}, and it is planned again when resumed`, () =>
      withRootDb(db, async (c) => {
        const { d } = await setup(c, []);
        const t = await plan(c, d.id);
        await report(c, t.id, outcome, { error: "the agent crashed" });
        const after = await directive(c, d.id);
        assert.deepEqual({ status: after.status, planner: after.orchestrator_task_id, planned: after.planned_revision }, {
          status: "paused",
          planner: null,
          planned: null,
        });
        // The pause says why (sql/000028), with the last line of the planner's error.
        const why = await q<{ paused_reason: string }>(c, "select paused_reason from baton.directives where id = $1", [d.id]);
        assert.equal(why.paused_reason, `Its planner ${outcome} (task ${t.id}): the agent crashed.`);
        // The worker ran and removed the first plan job long ago.
        await c.query("select graphile_worker.remove_job($1)", [`plan:${d.id}:1`]);
        await c.query("select baton.start_directive($1)", [d.id]);
        assert.equal(await jobCount(c, "plan_directive", `plan:${d.id}:1`), 1);
        const again = await plan(c, d.id);
        assert.notEqual(again.id, t.id);
        assert.equal(again.generation, 1);
      }));
  }

  it("leaves a paused directive paused when its planner fails", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const t = await plan(c, d.id);
      await c.query("select baton.pause_directive($1)", [d.id]);
      await report(c, t.id, "failed");
      assert.equal((await directive(c, d.id)).status, "paused");
      assert.equal((await directive(c, d.id)).orchestrator_task_id, null);
      const why = await q<{ paused_reason: string }>(c, "select paused_reason from baton.directives where id = $1", [d.id]);
      assert.equal(why.paused_reason, "Paused by hand.", "it was paused by hand first; the planner's failure does not rewrite that");
    }));
});
