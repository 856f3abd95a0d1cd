/*
 * Plan review (sql/000024_plan_review.sql): on a directive with review_plans, what its planner writes
 * (batch_add_steps, add_step, remove_step, set_step_dependencies with its agent token) goes to a
 * proposal; plan_diff shows it against the live plan; approve_plan applies it atomically, reject_plan
 * plans again with the reason. The proposal state machine through the API and a DBA's UPDATE.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, inSavepoint, useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, createOwner, directive, report, runStep, statuses } from "../helpers/fixtures";
import { buildPlanningPrompt, buildReplanningPrompt } from "../../src/prompts/planning";
import { chain, createDaemon, jobCount, orList, q, setup, transitionMatrix, as, type Token } from "./support";

const db = useTestDatabase();


const fails = (c: PoolClient, sql: string, params: unknown[], code: string, message: string | RegExp) => assertDbError(inSavepoint(c, () => c.query(sql, params)), code, message);

type Change = { step_id: string; name: string; change: string; status: string | null; depends_on: string[]; depends_on_names: string[]; previous_depends_on: string[] | null };
type Proposal = { id: string; status: string; reason: string | null; task_id: string; decided_at: Date | null; proposed_at: Date | null };

const diff = async (c: PoolClient, d: string) =>
  (await c.query<Change>("select step_id, name, change, status, depends_on, depends_on_names, previous_depends_on from baton.plan_diff($1)", [d])).rows;
const proposal = (c: PoolClient, d: string) => q<Proposal>(c, "select * from baton.plan_proposals where directive_id = $1 order by created_at desc limit 1", [d]);
const liveCount = async (c: PoolClient, d: string) => (await q<{ n: number }>(c, "select count(*)::int as n from baton.directive_steps where directive_id = $1", [d])).n;
const deps = async (c: PoolClient, stepId: string) =>
  (await c.query<{ name: string }>("select s.name from baton.step_dependencies d join baton.directive_steps s on s.id = d.depends_on_step_id where d.step_id = $1 order by s.name", [stepId])).rows.map(
    (r) => r.name,
  );

/** A running planner of a started directive with review_plans (and the given live steps, planned before review was on). */
async function planning(c: PoolClient, opts: { review?: boolean; live?: Parameters<typeof addSteps>[2] } = {}) {
  const { owner, d, s } = await setup(c, opts.live ?? []);
  await c.query("select baton.set_directive_review_plans($1, $2)", [d.id, opts.review ?? true]);
  await createDaemon(c, owner);
  if ((opts.live ?? []).length > 0) await c.query("select baton.update_goal($1, 'A new goal')", [d.id]);
  const t = await q<{ id: string; status: string }>(c, "select * from baton.create_planning_task($1, 'plan it')", [d.id]);
  assert.equal(t.status, "starting");
  await report(c, t.id, "running");
  const agent: Token = { role: "baton_agent", owner, directive: d.id, task: t.id };
  const user: Token = { role: "baton_user", owner };
  return { owner, d: d.id, s, task: t.id, agent, user };
}

/** The planner of an empty reviewing directive proposes a -> b -> c and finishes. */
async function proposed(c: PoolClient) {
  const w = await planning(c);
  const rows = await as(c, w.agent, async () => {
    const batch = await c.query<{ id: string; name: string }>("select * from baton.batch_add_steps($1, $2)", [
      w.d,
      JSON.stringify([{ key: "a", name: "a", check: "npm test" }, { key: "b", name: "b", dependsOn: ["a"], timeout: "30m" }]),
    ]);
    const c3 = await q<{ id: string }>(c, "select * from baton.add_step($1, 'c', depends_on => $2)", [w.d, [batch.rows[1]!.id]]);
    return { a: batch.rows[0]!.id, b: batch.rows[1]!.id, c: c3.id };
  });
  await report(c, w.task, "completed");
  return { ...w, ids: rows };
}

describe("a planner's writes on a reviewing directive", () => {
  it("go to a proposal: nothing is added live or dispatched, and the planner gets ids it can depend on", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c);
      const jobsBefore = await jobCount(c, "dispatch_steps");
      const rows = await as(c, w.agent, () => c.query<{ id: string; name: string; status: string }>("select * from baton.batch_add_steps($1, $2)", [w.d, JSON.stringify([{ name: "a" }])]));
      assert.equal(rows.rows.length, 1);
      assert.equal(rows.rows[0]!.name, "a");
      assert.equal(rows.rows[0]!.status, "pending");
      const b = await as(c, w.agent, () => q<{ id: string }>(c, "select * from baton.add_step($1, 'b', depends_on => $2)", [w.d, [rows.rows[0]!.id]]));
      assert.equal(await liveCount(c, w.d), 0, "the live plan is unchanged");
      assert.equal(await jobCount(c, "dispatch_steps"), jobsBefore, "nothing is dispatched");
      const p = await proposal(c, w.d);
      assert.equal(p.status, "drafting");
      assert.equal(p.task_id, w.task);
      assert.deepEqual((await diff(c, w.d)).map((x) => [x.name, x.change, x.depends_on]), [
        ["a", "added", []],
        ["b", "added", [rows.rows[0]!.id]],
      ]);
      assert.notEqual(b.id, rows.rows[0]!.id);
    }));

  it("are checked as live writes are: a bad field, a missing id, a step the proposal removed, a cycle, dependents without force", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c, { live: chain("x", "y") });
      await as(c, w.agent, async () => {
        await fails(c, "select * from baton.batch_add_steps($1, $2)", [w.d, JSON.stringify([{ name: "a", colour: "red" }])], "BTINV",
          'Entry 1 has an unknown field "colour"; the fields are key, name, description, taskPlan, dependsOn, orderIndex, check, timeout and stall.');
        await fails(c, "select * from baton.batch_add_steps($1, $2)", [w.d, JSON.stringify([{ name: "a", dependsOn: ["nope"] }])], "BTNFD",
          `Entry 1 ("a") depends on "nope", which is neither a key in this batch nor a step of directive ${w.d}.`);
        await fails(c, "select * from baton.remove_step($1)", [w.s.x!.id], "BTDEP", `Step ${w.s.x!.id} ("x") cannot be removed: ${w.s.y!.id} ("y") depend on it.`);
        await c.query("select * from baton.remove_step($1)", [w.s.y!.id]);
        await fails(c, "select * from baton.batch_add_steps($1, $2)", [w.d, JSON.stringify([{ name: "a", dependsOn: [w.s.y!.id] }])], "BTNFD",
          `Entry 1 ("a") depends on step ${w.s.y!.id}, which this proposed plan removes.`);
        const a = await q<{ id: string }>(c, "select * from baton.add_step($1, 'a', depends_on => $2)", [w.d, [w.s.x!.id]]);
        await fails(c, "select * from baton.set_step_dependencies($1, $2)", [w.s.x!.id, [a.id]], "BTCYC",
          `That dependency would create a cycle: x (${w.s.x!.id.slice(0, 8)}) → a (${a.id.slice(0, 8)}) → x (${w.s.x!.id.slice(0, 8)}) (each depends on the next).`);
        await fails(c, "select * from baton.set_step_dependencies($1, $2)", [a.id, [w.s.y!.id]], "BTNFD",
          `Step ${w.s.y!.id} is not in the proposed plan of directive ${w.d}, so step ${a.id} cannot depend on it.`);
      });
      assert.deepEqual(await statuses(c, w.d), { x: "ready", y: "pending" }, "the live plan is unchanged");
    }));

  it("go live as before on a directive without review", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c, { review: false });
      await as(c, w.agent, () => c.query("select * from baton.batch_add_steps($1, $2)", [w.d, JSON.stringify([{ name: "a" }])]));
      assert.deepEqual(await statuses(c, w.d), { a: "ready" });
      assert.equal((await c.query("select 1 from baton.plan_proposals where directive_id = $1", [w.d])).rowCount, 0);
    }));

  it("by an owner go live even while a proposal is open", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      await as(c, w.user, () => c.query("select * from baton.add_step($1, 'by hand')", [w.d]));
      assert.deepEqual(await statuses(c, w.d), { "by hand": "ready" });
    }));
});

describe("the diff", () => {
  it("shows kept, added, removed and re-wired steps with their names and dependencies", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c, { live: chain("x", "y", "z") });
      const n = await as(c, w.agent, async () => {
        await c.query("select * from baton.remove_step($1, force => true)", [w.s.z!.id]);
        const nw = await q<{ id: string }>(c, "select * from baton.add_step($1, 'w', depends_on => $2)", [w.d, [w.s.x!.id]]);
        await c.query("select * from baton.set_step_dependencies($1, $2)", [w.s.y!.id, [nw.id]]);
        return nw.id;
      });
      assert.deepEqual(
        (await as(c, w.user, () => diff(c, w.d))).map((x) => [x.name, x.change, x.status, x.depends_on_names, x.previous_depends_on?.length ?? null]),
        [
          ["x", "kept", "ready", [], 0],
          ["y", "rewired", "pending", ["w"], 1],
          ["z", "removed", "pending", ["y"], 1],
          ["w", "added", null, ["x"], null],
        ],
      );
      assert.equal((await diff(c, w.d)).find((x) => x.name === "y")!.depends_on[0], n);
    }));

  it("is empty without an open proposal, and refused to another owner (BTNFD) and to agents (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      const other = await createOwner(c, "bob");
      await as(c, { role: "baton_user", owner: other }, () => fails(c, "select * from baton.plan_diff($1)", [w.d], "BTNFD", `Directive ${w.d} does not exist.`));
      const { d } = await setup(c, []);
      assert.deepEqual(await diff(c, d.id), []);
    }));
});

describe("approving", () => {
  it("keeps each proposed step's agent (sql/000030): the approved steps go only to daemons with that label", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c);
      await as(c, w.agent, async () => {
        await c.query("select * from baton.batch_add_steps($1, $2)", [w.d, JSON.stringify([{ key: "x", name: "x", agent: "codex" }, { key: "y", name: "y", dependsOn: ["x"] }])]);
        await c.query("select * from baton.add_step($1, 'z', agent => 'gpu')", [w.d]);
      });
      await report(c, w.task, "completed");
      assert.equal(await liveCount(c, w.d), 0, "nothing live before approval");
      await as(c, w.user, () => c.query("select baton.approve_plan($1)", [w.d]));
      const live = await c.query<{ name: string; agent: string | null }>("select name, agent from baton.directive_steps where directive_id = $1 order by name", [w.d]);
      assert.deepEqual(live.rows, [
        { name: "x", agent: "codex" },
        { name: "y", agent: null },
        { name: "z", agent: "gpu" },
      ]);
    }));

  it("applies the proposal atomically; its ready steps are dispatched, with their checks and limits", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      assert.equal((await proposal(c, w.d)).status, "proposed");
      assert.equal((await directive(c, w.d)).status, "idle", "nothing to run until approved");
      const p = await as(c, w.user, () => q<Proposal>(c, "select * from baton.approve_plan($1)", [w.d]));
      assert.equal(p.status, "approved");
      assert.ok(p.decided_at);
      assert.deepEqual(await statuses(c, w.d), { a: "ready", b: "pending", c: "pending" });
      const live = await c.query<{ id: string; name: string; check_command: string | null; timeout_seconds: number | null; added_by_task_id: string }>(
        "select * from baton.directive_steps where directive_id = $1 order by name",
        [w.d],
      );
      assert.deepEqual(live.rows.map((s) => [s.name, s.check_command, s.timeout_seconds, s.added_by_task_id]), [
        ["a", "npm test", null, w.task],
        ["b", null, 1800, w.task],
        ["c", null, null, w.task],
      ]);
      assert.deepEqual(await deps(c, live.rows[2]!.id), ["b"]);
      assert.equal((await directive(c, w.d)).status, "active");
      assert.equal(await jobCount(c, "dispatch_step"), 1, "step a is dispatched");
      assert.deepEqual(await diff(c, w.d), [], "no plan waits any more");
    }));

  it("re-wires and removes live steps as proposed", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c, { live: chain("x", "y", "z") });
      await as(c, w.agent, async () => {
        await c.query("select * from baton.remove_step($1, force => true)", [w.s.z!.id]);
        const nw = await q<{ id: string }>(c, "select * from baton.add_step($1, 'w', depends_on => $2)", [w.d, [w.s.x!.id]]);
        await c.query("select * from baton.set_step_dependencies($1, $2)", [w.s.y!.id, [nw.id]]);
      });
      await report(c, w.task, "completed");
      await c.query("select baton.approve_plan($1)", [w.d]);
      assert.deepEqual(await statuses(c, w.d), { x: "ready", y: "pending", w: "pending" });
      assert.deepEqual(await deps(c, w.s.y!.id), ["w"]);
    }));

  it("refuses when no plan waits (BTNFD), while the planner writes (BTSTS), and to agents", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await fails(c, "select baton.approve_plan($1)", [d.id], "BTNFD", `Directive ${d.id} has no plan waiting for review, so there is nothing to approve.`);
      const w = await planning(c);
      await as(c, w.agent, () => c.query("select * from baton.add_step($1, 'a')", [w.d]));
      await fails(c, "select baton.approve_plan($1)", [w.d], "BTSTS",
        `The plan of directive ${w.d} is still being written by its planner (task ${w.task}), so it cannot be approved; wait until the planner finishes.`);
      await as(c, w.agent, () => fails(c, "select baton.approve_plan($1)", [w.d], "42501", /permission denied for function approve_plan/));
      const other = await createOwner(c, "bob");
      await report(c, w.task, "completed");
      await as(c, { role: "baton_user", owner: other }, () => fails(c, "select baton.approve_plan($1)", [w.d], "BTNFD", `Directive ${w.d} does not exist.`));
    }));

  it("refuses, applying nothing, when a step it removes has started since", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c, { live: chain("x", "y") });
      await as(c, w.agent, () => c.query("select * from baton.remove_step($1, force => true)", [w.s.x!.id]));
      await as(c, w.agent, () => c.query("select * from baton.add_step($1, 'n')", [w.d]));
      await report(c, w.task, "completed");
      await runStep(c, w.s.x!.id);
      await fails(c, "select baton.approve_plan($1)", [w.d], "BTSTS",
        `The proposed plan of directive ${w.d} no longer fits: it removes step ${w.s.x!.id} ("x"), which is now completed; completed and running steps stay.`);
      assert.deepEqual(await statuses(c, w.d), { x: "completed", y: "ready" });
      assert.equal((await proposal(c, w.d)).status, "proposed");
    }));
});

describe("rejecting", () => {
  it("needs a reason (BTINV)", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      await fails(c, "select baton.reject_plan($1, $2)", [w.d, "  "], "BTINV", "Give a reason for rejecting the plan: the planner reads it when it plans again.");
      await fails(c, "select baton.reject_plan($1, null)", [w.d], "BTINV", "Give a reason for rejecting the plan: the planner reads it when it plans again.");
    }));

  it("marks it rejected with the reason, applies nothing and plans again", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      assert.equal((await directive(c, w.d)).planned_revision, 1);
      const p = await as(c, w.user, () => q<Proposal>(c, "select * from baton.reject_plan($1, $2)", [w.d, "Too many steps; do it in one."]));
      assert.deepEqual([p.status, p.reason], ["rejected", "Too many steps; do it in one."]);
      assert.equal(await liveCount(c, w.d), 0);
      const d = await directive(c, w.d);
      assert.deepEqual([d.status, d.planned_revision], ["active", null]);
      assert.equal(await jobCount(c, "plan_directive", `plan:${w.d}:1`), 1, "a new planner is on its way");
      const next = await q<{ id: string; generation: number }>(c, "select * from baton.create_planning_task($1, 'again')", [w.d]);
      assert.notEqual(next.id, w.task);
      assert.equal(next.generation, 1, "the rejected plan's generation is used again");
    }));

  it("a re-plan's rejection keeps the goal revision before it planned", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c, { live: chain("x") });
      await as(c, w.agent, () => c.query("select * from baton.add_step($1, 'n')", [w.d]));
      await report(c, w.task, "completed");
      await c.query("select baton.reject_plan($1, 'no')", [w.d]);
      const d = await directive(c, w.d);
      assert.deepEqual([d.goal_revision, d.planned_revision], [2, 1]);
      assert.equal(await jobCount(c, "replan_directive", `plan:${w.d}:2`), 1);
    }));
});

describe("the proposal state machine", () => {
  const all = ["drafting", "proposed", "approved", "rejected", "superseded"] as const;
  const legal = { drafting: ["proposed", "superseded"], proposed: ["approved", "rejected", "superseded"], approved: [], rejected: [], superseded: [] } as const;

  it("its planner's end settles a drafting proposal: completed -> proposed, failed -> superseded", () =>
    withRootDb(db, async (c) => {
      const w = await planning(c);
      await as(c, w.agent, () => c.query("select * from baton.add_step($1, 'a')", [w.d]));
      await report(c, w.task, "failed", { error: "boom" });
      assert.equal((await proposal(c, w.d)).status, "superseded");
      assert.deepEqual(await diff(c, w.d), []);
    }));

  it("a newer planner supersedes an open proposal", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      await c.query("select baton.update_goal($1, 'Another goal')", [w.d]);
      await c.query("select * from baton.create_planning_task($1, 'again')", [w.d]);
      assert.equal((await proposal(c, w.d)).status, "superseded");
    }));

  it("a DBA's UPDATE moves it like the API: approved applies it", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      await c.query("update baton.plan_proposals set status = 'approved' where directive_id = $1", [w.d]);
      assert.deepEqual(await statuses(c, w.d), { a: "ready", b: "pending", c: "pending" });
    }));

  it("a DBA's UPDATE to rejected needs a reason (BTINV)", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      await fails(c, "update baton.plan_proposals set status = 'rejected' where directive_id = $1", [w.d], "BTINV",
        `Give a reason for rejecting the plan of directive ${w.d}: the planner reads it when it plans again.`);
    }));

  it("refuses every illegal move with BTSTS, naming both states", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      const p = await proposal(c, w.d);
      for (const { from, to, legal: ok } of transitionMatrix(all, legal)) {
        if (ok || from === to) continue;
        await c.query("savepoint move");
        // Put the proposal in `from` behind the guard's back, as only a test may.
        await c.query("alter table baton.plan_proposals disable trigger user");
        await c.query(
          "update baton.plan_proposals set status = $2::text::baton.plan_proposal_status, reason = case when $2::text = 'rejected' then 'r' end, decided_at = case when $2::text in ('approved', 'rejected') then now() end where id = $1",
          [p.id, from],
        );
        await c.query("alter table baton.plan_proposals enable trigger user");
        const open = legal[from] as readonly string[];
        await assertDbError(
          c.query("update baton.plan_proposals set status = $2::text::baton.plan_proposal_status, reason = case when $2::text = 'rejected' then 'r' end where id = $1", [p.id, to]),
          "BTSTS",
          open.length === 0
            ? `Plan proposal ${p.id} is ${from}, so it cannot become ${to}; approved, rejected and superseded are final.`
            : `Plan proposal ${p.id} is ${from}, so it cannot become ${to}; from ${from} it can become ${orList(open)}.`,
        );
        await c.query("rollback to savepoint move");
      }
    }));
});

describe("turning review on and off", () => {
  it("is refused off while a plan waits, and to agents", () =>
    withRootDb(db, async (c) => {
      const w = await proposed(c);
      await fails(c, "select baton.set_directive_review_plans($1, false)", [w.d], "BTSTS",
        `Directive ${w.d} has a plan waiting for review, so review cannot be turned off now; approve or reject it first.`);
      await fails(c, "select baton.set_directive_review_plans($1, null)", [w.d], "BTINV", `Say whether plans of directive ${w.d} are reviewed: true or false.`);
    }));
});

describe("the planning prompt", () => {
  const input = { directiveId: "d1", title: "T", goal: "G", repo: null, baseBranch: "main", generation: 2, reviewPlans: true, rejection: "Too many steps; do it in one." };

  it("quotes the reason the last plan was rejected, and says the plan is reviewed", () => {
    for (const prompt of [buildPlanningPrompt(input), buildReplanningPrompt({ ...input, previousGoal: null, steps: [] })]) {
      assert.match(prompt, /# Your last plan was rejected\nThe owner reviewed the plan proposed for this goal and rejected it, saying:\n> Too many steps; do it in one\.\n/);
      assert.match(prompt, /This directive reviews plans/);
    }
    assert.doesNotMatch(buildPlanningPrompt({ ...input, reviewPlans: false, rejection: null }), /last plan was rejected|reviews plans/);
  });
});
