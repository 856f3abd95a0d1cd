/*
 * Re-planning: a goal change on a planned directive queues replan_directive; the planner of
 * generation 2 sees the existing steps and both goals, may add or remove steps, and the directive
 * ends idle without planning again (planning is tracked by goal revision, not by step timestamps).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon, type SpawnedTask } from "../helpers/fake-daemon";
import { jobs } from "../helpers/fixtures";
import { createDirective, createOwner, directiveStatus, tasksOf } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { startTestWorker, useTestWorker, waitForQuietQueue } from "../helpers/worker";

const db = useTestDatabase();

type Planner = (task: SpawnedTask, daemon: FakeDaemon) => Promise<void>;

/** A daemon whose planning tasks run `plans[generation]` and whose execution tasks complete. */
async function plannerDaemon(owner: string, plans: Record<number, Planner>): Promise<FakeDaemon> {
  const daemon = await FakeDaemon.start(db, {
    ownerId: owner,
    maxTasks: 2,
    behaviour: async (task, self) => {
      if (task.kind === "planning") {
        const plan = plans[task.generation!];
        if (!plan) throw new Error(`no plan for generation ${task.generation}`);
        await plan(task, self);
      }
      return "completed" as const;
    },
  });
  after(() => daemon.stop());
  return daemon;
}

const firstPlan: Planner = async (task, d) => {
  await d.query("select baton.batch_add_steps($1, $2)", [
    task.directive_id,
    JSON.stringify([
      { key: "schema", name: "schema" },
      { key: "api", name: "api", dependsOn: ["schema"] },
    ]),
  ]);
};

async function stepsOf(directiveId: string): Promise<{ id: string; name: string; status: string; generation: number }[]> {
  const r = await db.pool.query("select id, name, status, generation from baton.directive_steps where directive_id = $1 order by order_index, name", [directiveId]);
  return r.rows;
}

async function directiveRow(id: string): Promise<{ status: string; goal_revision: number; planned_revision: number | null; current_generation: number }> {
  return (await db.pool.query("select status, goal_revision, planned_revision, current_generation from baton.directives where id = $1", [id])).rows[0];
}

async function plannedAndIdle(owner: string, plans: Record<number, Planner>, goal = "Store users") {
  const daemon = await plannerDaemon(owner, { 1: firstPlan, ...plans });
  const d = await createDirective(db, owner, { goal });
  await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "the first plan to run to idle" });
  return { daemon, id: d.id };
}

describe("re-planning", () => {
  useTestWorker(db);

  it("queues replan_directive in the transaction that changes the goal of a planned, idle directive", async () => {
    const owner = await createOwner(db, "queue-replan");
    const { id } = await plannedAndIdle(owner, { 2: async () => undefined });
    const c = await db.pool.connect();
    try {
      await c.query("begin");
      await c.query("select baton.update_goal($1, 'Store and list users')", [id]);
      const queued = (await jobs(c, "replan_directive")).filter((j) => j.payload.directive_id === id);
      assert.deepEqual(
        queued.map((j) => [j.key, j.payload]),
        [[`plan:${id}:2`, { directive_id: id, goal_revision: 2 }]],
      );
      assert.equal((await c.query("select status from baton.directives where id = $1", [id])).rows[0].status, "active");
      await c.query("commit");
    } finally {
      c.release();
    }
    await waitFor(async () => (await directiveStatus(db, id)) === "idle", { what: "idle after the re-plan" });
  });

  it("re-plans as generation 2 with a prompt that shows every existing step and both goals, and runs the new steps", async () => {
    const owner = await createOwner(db, "replan-prompt");
    const { daemon, id } = await plannedAndIdle(owner, {
      2: async (task, d) => {
        const api = (await d.query<{ id: string }>("select id from baton.directive_steps where directive_id = $1 and name = 'api'", [task.directive_id])).rows[0]!.id;
        await d.query("select baton.add_step($1, 'list users', depends_on => array[$2]::uuid[])", [task.directive_id, api]);
      },
    });
    const before = await stepsOf(id);
    await db.pool.query("select baton.update_goal($1, 'Store and list users')", [id]);
    await waitFor(async () => (await stepsOf(id)).length === 3 && (await directiveStatus(db, id)) === "idle", { what: "the re-plan to run to idle" });

    const planning = (await tasksOf(db, { directiveId: id })).filter((t) => t.kind === "planning");
    assert.deepEqual(planning.map((t) => [t.generation, t.status]), [
      [1, "completed"],
      [2, "completed"],
    ]);
    const prompt = planning[1]!.prompt!;
    for (const s of before) assert.ok(prompt.includes(`- ${s.id}: ${s.name} (status completed; generation 1`), `the prompt lists step ${s.name}`);
    assert.ok(prompt.includes(`depends on ${before.find((s) => s.name === "schema")!.id}`));
    assert.ok(prompt.includes("# Previous goal\nStore users\n"));
    assert.ok(prompt.includes("# New goal\nStore and list users\n"));
    assert.ok(prompt.includes("- Generation of the steps you add: 2"));
    assert.deepEqual(
      (await stepsOf(id)).map((s) => [s.name, s.status, s.generation]),
      [
        ["schema", "completed", 1],
        ["api", "completed", 1],
        ["list users", "completed", 2],
      ],
    );
    assert.deepEqual(await directiveRow(id), { status: "idle", goal_revision: 2, planned_revision: 2, current_generation: 2 });
    assert.deepEqual(daemon.errors, []);
  });

  it("ends idle without planning again when the re-plan only removes a step", async () => {
    const owner = await createOwner(db, "replan-remove");
    const { daemon, id } = await plannedAndIdle(owner, {
      2: async (task, d) => {
        // Completed steps stay (remove_step refuses them), so it removes the skipped one.
        await d.query("select baton.remove_step(id) from baton.directive_steps where directive_id = $1 and name = 'docs'", [task.directive_id]);
      },
    });
    await db.pool.query("select baton.skip_step(s.id) from baton.add_step($1, 'docs') s", [id]);
    await waitFor(async () => (await directiveStatus(db, id)) === "idle", { what: "idle again after the skipped step" });
    await db.pool.query("select baton.update_goal($1, 'Only store users')", [id]);
    await waitFor(async () => (await stepsOf(id)).length === 2 && (await directiveStatus(db, id)) === "idle", { what: "the re-plan to run to idle" });
    await waitForQuietQueue(db);

    assert.equal(await directiveStatus(db, id), "idle");
    assert.deepEqual((await tasksOf(db, { directiveId: id })).filter((t) => t.kind === "planning").map((t) => t.generation), [1, 2]);
    assert.deepEqual((await stepsOf(id)).map((s) => [s.name, s.status]), [["schema", "completed"], ["api", "completed"]]);
    assert.deepEqual(await directiveRow(id), { status: "idle", goal_revision: 2, planned_revision: 2, current_generation: 2 });
    assert.deepEqual(daemon.spawned.map((t) => t.kind), ["planning", "execution", "execution", "planning"]);
    assert.deepEqual(daemon.errors, []);
  });

  it("plans once more when the goal changes again while the re-planner runs", async () => {
    const owner = await createOwner(db, "replan-twice");
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { daemon, id } = await plannedAndIdle(owner, { 2: () => held, 3: async () => undefined });
    await db.pool.query("select baton.update_goal($1, 'Second goal')", [id]);
    await waitFor(() => daemon.spawned.some((t) => t.generation === 2), { what: "the generation 2 planner" });
    await db.pool.query("select baton.update_goal($1, 'Third goal')", [id]);
    release();
    await waitFor(async () => (await directiveRow(id)).planned_revision === 3 && (await directiveStatus(db, id)) === "idle", { what: "the third revision planned" });
    await waitForQuietQueue(db);
    const planning = (await tasksOf(db, { directiveId: id })).filter((t) => t.kind === "planning");
    assert.deepEqual(planning.map((t) => t.generation), [1, 2, 3]);
    assert.ok(planning[2]!.prompt!.includes("# Previous goal\nSecond goal\n"));
    assert.ok(planning[2]!.prompt!.includes("# New goal\nThird goal\n"));
    assert.deepEqual(await directiveRow(id), { status: "idle", goal_revision: 3, planned_revision: 3, current_generation: 3 });
  });

  it("runs the batch-add-steps example of its own planning prompt as written", async () => {
    const owner = await createOwner(db, "example-batch");
    const daemon = await plannerDaemon(owner, {
      1: async (task, d) => {
        const json = /batch-add-steps --json '([\s\S]*?)'\n/.exec(task.prompt ?? "")?.[1];
        assert.ok(json, "the prompt has a batch-add-steps --json example");
        await d.query("select baton.batch_add_steps($1, $2::jsonb)", [task.directive_id, json]);
      },
    });
    const d = await createDirective(db, owner, { goal: "Users" });
    await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { what: "idle" });
    const steps = await stepsOf(d.id);
    assert.deepEqual(steps.map((s) => [s.name, s.status]), [
      ["Add the users table", "completed"],
      ["Expose users over the API", "completed"],
    ]);
    const deps = await db.pool.query("select step_id, depends_on_step_id from baton.step_dependencies where directive_id = $1", [d.id]);
    assert.deepEqual(deps.rows, [{ step_id: steps[1]!.id, depends_on_step_id: steps[0]!.id }]);
    assert.deepEqual(daemon.errors, []);
  });
});

describe("re-planning, with the worker started by the test", () => {
  /*
   * The planning job reads the goal, builds the prompt, then creates the task, which records the goal
   * revision. A goal update in between would give the planner the old goal under the new revision,
   * and the new goal would never be planned. Replayed here: the job runs while a transaction holds the
   * directive, which then changes the goal and commits.
   */
  it("builds the planning prompt from the goal revision the planning task records, even when the goal changes as the job runs", async () => {
    const owner = await createOwner(db, "goal-race");
    const d = await createDirective(db, owner, { goal: "First goal", start: false });
    await db.pool.query("select baton.update_goal($1, 'Second goal')", [d.id]);
    await db.pool.query("select baton.start_directive($1)", [d.id]);
    const holder = await db.pool.connect();
    after(() => holder.release());
    await holder.query("begin");
    await holder.query("select 1 from baton.directives where id = $1 for update", [d.id]);
    await startTestWorker(db);
    await waitFor(
      async () =>
        (await db.pool.query("select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%baton%'")).rowCount! > 0,
      { what: "the planning job to wait for the directive" },
    );
    await holder.query("select baton.update_goal($1, 'Third goal')", [d.id]);
    await holder.query("commit");

    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).length > 0, { what: "the planning task" });
    await waitForQuietQueue(db);
    const tasks = await db.pool.query<{ goal_revision: number; prompt: string }>("select goal_revision, prompt from baton.tasks where directive_id = $1", [d.id]);
    assert.equal(tasks.rowCount, 1);
    assert.equal(tasks.rows[0]!.goal_revision, 3);
    assert.ok(tasks.rows[0]!.prompt.includes("# Goal\nThird goal\n"));
  });
});
