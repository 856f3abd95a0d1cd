/*
 * A planner resumed after a failed first plan: the steps the failed planner added stay in the
 * directive, and the next planner's prompt lists them and says not to add them again.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon, type SpawnedTask } from "../helpers/fake-daemon";
import { createDirective, createOwner, directiveStatus, tasksOf } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { useTestWorker } from "../helpers/worker";

const db = useTestDatabase();

/** Adds steps as the planner's agent token would (role baton_agent, its task and directive), so added_by_task_id is the planner. */
async function addAsPlanner(task: SpawnedTask, ownerId: string, steps: object[]): Promise<void> {
  const c = await db.pool.connect();
  try {
    await c.query("begin");
    await c.query(
      `select set_config('baton.owner_id', $1, true), set_config('baton.directive_id', $2, true), set_config('baton.task_id', $3, true), set_config('role', 'baton_agent', true)`,
      [ownerId, task.directive_id, task.id],
    );
    await c.query("select baton.batch_add_steps($1, $2)", [task.directive_id, JSON.stringify(steps)]);
    await c.query("commit");
  } catch (err) {
    await c.query("rollback");
    throw err;
  } finally {
    c.release();
  }
}

describe("a planner resumed after a failed first plan", () => {
  useTestWorker(db);

  it("is told which steps the failed planner already added, and not to add them again", async () => {
    const owner = await createOwner(db, "resumed-planner");
    let planners = 0;
    const daemon = await FakeDaemon.start(db, {
      ownerId: owner,
      maxTasks: 1,
      behaviour: async (task) => {
        if (task.kind !== "planning") return "completed" as const;
        planners += 1;
        if (planners > 1) return "completed" as const;
        // The first planner adds part of its plan, then crashes.
        await addAsPlanner(task, owner, [
          { key: "schema", name: "Add the users table" },
          { key: "api", name: "Expose users over the API", dependsOn: ["schema"] },
        ]);
        return "failed" as const;
      },
    });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { goal: "Store users" });
    await waitFor(async () => (await directiveStatus(db, d.id)) === "paused", { what: "the failed planner to pause the directive" });

    const added = (await db.pool.query<{ id: string; name: string; status: string }>(
      "select id, name, status from baton.directive_steps where directive_id = $1 order by order_index, id",
      [d.id],
    )).rows;
    assert.deepEqual(added.map((s) => s.name), ["Add the users table", "Expose users over the API"]);

    await db.pool.query("select baton.start_directive($1)", [d.id]);
    await waitFor(async () => (await tasksOf(db, { directiveId: d.id })).filter((t) => t.kind === "planning").length === 2, { what: "a second planner" });
    const [first, second] = (await tasksOf(db, { directiveId: d.id })).filter((t) => t.kind === "planning");
    assert.ok(!first!.prompt!.includes("# Steps you already added"), "the first planner had nothing to be told");
    // Each step with its status when the second prompt was built (a step the first planner added may
    // have been dispatched since the read above: its status is not compared).
    const escape = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const section = [
      "# Steps you already added",
      escape(`An earlier attempt at this plan added these steps before it ended without finishing. They are part of the plan: do not add them again. Add only what is still missing; "dependsOn" may name their ids.`),
      ...added.map((s) => `- ${escape(s.id)}: ${escape(s.name)} \\(status [a-z]+\\)`),
      "",
    ].join("\n");
    assert.match(second!.prompt!, new RegExp(section));
  });
});
