import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import { waitFor } from "../helpers/wait";
import { startTestWorker } from "../helpers/worker";

const db = useTestDatabase();

describe("a directive's journey through the worker", () => {
  it("plans with the daemon's planner, dispatches the diamond in dependency order and ends idle", async () => {
    await startTestWorker(db);
    const owner = (await db.pool.query<{ id: string }>("select id from baton.create_owner('alice')")).rows[0]!.id;
    const order: string[] = [];
    const daemon = await FakeDaemon.start(db, {
      ownerId: owner,
      maxTasks: 2,
      behaviour: async (task, d) => {
        if (task.kind === "planning") {
          await d.query("select baton.batch_add_steps($1, $2)", [
            task.directive_id,
            JSON.stringify([
              { key: "a", name: "a" },
              { key: "b", name: "b", dependsOn: ["a"] },
              { key: "c", name: "c", dependsOn: ["a"] },
              { key: "d", name: "d", dependsOn: ["b", "c"] },
            ]),
          ]);
        } else {
          const s = await d.query<{ name: string }>("select name from baton.directive_steps where id = $1", [task.step_id]);
          order.push(s.rows[0]!.name);
        }
        return "completed" as const;
      },
    });
    after(() => daemon.stop());
    const directive = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Demo', 'Build it', start => true, owner_id => $1)", [owner])).rows[0]!.id;
    await waitFor(async () => (await db.pool.query("select status from baton.directives where id = $1", [directive])).rows[0].status === "idle", { what: "idle" });
    assert.equal(daemon.spawned[0]!.kind, "planning");
    assert.match(daemon.spawned[0]!.prompt ?? "", /batch-add-steps/);
    assert.equal(order[0], "a");
    assert.deepEqual(order.slice(1, 3).sort(), ["b", "c"]);
    assert.equal(order[3], "d");
    const steps = await db.pool.query("select status from baton.directive_steps where directive_id = $1", [directive]);
    assert.deepEqual(steps.rows.map((r) => r.status), ["completed", "completed", "completed", "completed"]);
    assert.deepEqual(daemon.errors, []);
  });
});
