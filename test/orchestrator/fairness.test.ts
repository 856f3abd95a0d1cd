/*
 * Fairness among one owner's directives (issue 12 point 4, sql/000026): a 2,000-step fan-out fills
 * the owner's daemons and leaves a backlog of about 2,000 waiting tasks; a 5-step chain started beside
 * it must not wait behind that backlog. A free slot goes to the directive served least recently (one
 * with nothing running first), so each chain task is assigned within the next few assignments after
 * it was created, whatever the fan-out's backlog. Measured in turns (assignment events in id order),
 * not wall-clock time. Fake daemons that complete every task at once, one in-process worker, no crontab.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import type { StepSpec } from "../helpers/fixtures";
import { createDirective, createOwner, directiveStatus } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { useTestWorker } from "../helpers/worker";

const db = useTestDatabase();

const SLOTS = [4, 4];

describe("a 5-step chain beside a 2,000-step fan-out of the same owner", () => {
  useTestWorker(db, { concurrency: 4 }); // inside the suite, so the test database exists first
  it("assigns each chain task within the next few assignments after it is created, not after the fan-out's backlog", async () => {
    const owner = await createOwner(db, "fairness");
    for (const [i, maxTasks] of SLOTS.entries()) {
      const d = await FakeDaemon.start(db, { ownerId: owner, name: `d${i}`, maxTasks, behaviour: () => "completed" });
      after(() => d.stop());
    }
    const fan = await createDirective(db, owner, {
      title: "fan-out",
      steps: Array.from({ length: 2000 }, (_, i): StepSpec => ({ name: `leaf${i}` })),
    });
    // The fan-out first: its tasks wait for the daemons' eight slots.
    await waitFor(
      async () =>
        (await db.pool.query<{ n: number }>("select count(*)::int as n from baton.tasks where directive_id = $1 and status = 'pending'", [fan.id])).rows[0]!.n >= 1000,
      { timeoutMs: 60_000, what: "a backlog of the fan-out's waiting tasks" },
    );
    const names = ["c1", "c2", "c3", "c4", "c5"];
    const chain = await createDirective(db, owner, {
      title: "chain",
      steps: names.map((name, i) => ({ key: name, name, dependsOn: i === 0 ? [] : [names[i - 1]!] })),
    });
    await waitFor(async () => (await directiveStatus(db, chain.id)) === "idle", { timeoutMs: 90_000, intervalMs: 50, what: "the chain to finish" });

    // For each chain task: the owner's assignments (pending -> starting, in event order) between its
    // creation and its own assignment; and the fan-out's backlog when it was created.
    const turns = await db.pool.query<{ name: string; waited: number; backlog: number }>(
      `with chain_tasks as (
         select s.name, t.id,
                (select min(e.id) from baton.events e where e.subject_id = t.id and e.kind = 'created') as created,
                (select min(e.id) from baton.events e where e.subject_id = t.id and e.to_status = 'starting') as assigned
           from baton.tasks t join baton.directive_steps s on s.id = t.step_id where t.directive_id = $1)
       select c.name,
              (select count(*)::int from baton.events e
                where e.owner_id = $3 and e.subject_type = 'task' and e.to_status = 'starting' and e.id > c.created and e.id < c.assigned) as waited,
              (select count(*)::int from baton.events e
                where e.directive_id = $2 and e.subject_type = 'task' and e.kind = 'created' and e.id < c.created)
              - (select count(*)::int from baton.events e
                  where e.directive_id = $2 and e.subject_type = 'task' and e.to_status = 'starting' and e.id < c.created) as backlog
         from chain_tasks c order by c.name`,
      [chain.id, fan.id, owner],
    );
    const slots = SLOTS.reduce((a, b) => a + b, 0);
    console.log(`# chain beside a 2,000-step fan-out: ${JSON.stringify(turns.rows)}`);
    assert.deepEqual(turns.rows.map((r) => r.name), names, "one task per chain step");
    for (const r of turns.rows) {
      assert.ok(r.backlog > slots, `the fan-out had a backlog when ${r.name} was created: ${JSON.stringify(turns.rows)}`);
      assert.ok(r.waited <= slots, `${r.name} waited ${r.waited} assignments (at most ${slots}, the slots): ${JSON.stringify(turns.rows)}`);
    }
  });
});
