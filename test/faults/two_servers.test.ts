/*
 * Two `baton server` processes, each with its worker, on one database (different ports, the same
 * DATABASE_URL), started together. Four fake daemons in this process (max_tasks 2 and 3, heartbeating
 * and reporting through SQL) run 300 steps of chains, fan-outs and layers, some steps failing their
 * first attempt. Both servers' workers race for the same jobs: still one task per (step, attempt),
 * one pending -> starting per task, and never more live tasks on a daemon than its max_tasks, in
 * samples taken during the run and in a replay of baton.events.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startServer, useE2E, waitForE2E } from "../helpers/e2e";
import { FakeDaemon } from "../helpers/fake-daemon";
import { assertExactlyOnce, assertMaxTasksInHistory, assertNoLiveTasks, chain, fanOut, killOnExit, layered, sampleLiveTasks } from "../helpers/faults";
import { createDirective } from "../helpers/orchestrator";

const e2e = useE2E();

const DAEMONS = [2, 3, 2, 3];

describe("two servers with workers on one database", () => {
  it("dispatch every step attempt once and never exceed a daemon's max_tasks", async (t) => {
    const servers = await Promise.all([startServer(e2e), startServer(e2e)]);
    for (const s of servers) killOnExit(s.proc.child);
    const owners = await e2e.db.pool.query<{ id: string }>("select id from baton.owners");
    assert.equal(owners.rowCount, 1, "the two servers started together made one local owner");
    const owner = owners.rows[0]!.id;

    const failFirst = new Set<string>();
    const daemons: FakeDaemon[] = [];
    for (const [i, maxTasks] of DAEMONS.entries()) {
      daemons.push(
        await FakeDaemon.start(e2e.db, {
          ownerId: owner,
          name: `fake${i}`,
          maxTasks,
          behaviour: async (task) => {
            await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 10)));
            return task.attempt === 1 && failFirst.has(task.step_id!) ? ("failed" as const) : ("completed" as const);
          },
        }),
      );
    }
    const heartbeats = setInterval(() => {
      for (const d of daemons) d.heartbeat().catch((err) => d.errors.push(err));
    }, 1000);
    const sampler = sampleLiveTasks(e2e.db);
    // Which worker pools run jobs (graphile-worker's locked_by names the pool): both servers must take part.
    const pools = new Set<string>();
    let watching = true;
    const poolWatch = (async () => {
      while (watching) {
        const r = await e2e.db.pool.query<{ locked_by: string }>("select distinct locked_by from graphile_worker.jobs where locked_by is not null").catch(() => ({ rows: [] }));
        for (const { locked_by } of r.rows) pools.add(locked_by);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      const specs = [[...chain("c", 60), ...fanOut("f", 38)], [...chain("p", 30), ...chain("q", 30), ...fanOut("g", 38)], layered("l", 10, 10)];
      assert.equal(specs.flat().length, 300);
      const directives = [];
      for (const [i, steps] of specs.entries()) {
        const d = await createDirective(e2e.db, owner, { title: `run ${i}`, steps, start: false });
        Object.values(d.steps).forEach((id, n) => n % 9 === 4 && failFirst.add(id));
        directives.push(d);
      }
      for (const d of directives) await e2e.db.pool.query("select baton.start_directive($1)", [d.id]);
      await waitForE2E(
        e2e,
        "all three directives to go idle",
        async () => (await e2e.db.pool.query<{ status: string }>("select status from baton.directives where owner_id = $1", [owner])).rows.every((d) => d.status === "idle"),
        { timeoutMs: 120_000, unless: servers[0]!.proc },
      );
      const peak = await sampler.stop();
      watching = false;
      await poolWatch;

      const steps = await e2e.db.pool.query<{ id: string; status: string; attempts: string[] }>(
        `select s.id, s.status, array_agg(t.status::text order by t.attempt) as attempts
           from baton.directive_steps s join baton.tasks t on t.step_id = s.id
          where s.owner_id = $1 group by s.id, s.status`,
        [owner],
      );
      assert.equal(steps.rowCount, 300);
      for (const s of steps.rows) {
        assert.deepEqual([s.status, s.attempts], ["completed", failFirst.has(s.id) ? ["failed", "completed"] : ["completed"]], `step ${s.id}`);
      }
      const { tasks } = await assertExactlyOnce(e2e.db, owner);
      assert.equal(tasks, 300 + failFirst.size);
      await assertNoLiveTasks(e2e.db, owner);

      // Each task spawned on one daemon only, the one the database assigned it to.
      const assigned = new Map((await e2e.db.pool.query<{ id: string; daemon_id: string }>("select id, daemon_id from baton.tasks where owner_id = $1", [owner])).rows.map((r) => [r.id, r.daemon_id]));
      const spawnedOn = new Map<string, string>();
      for (const d of daemons) {
        for (const task of d.spawned) {
          assert.ok(!spawnedOn.has(task.id), `task ${task.id} was spawned on ${spawnedOn.get(task.id)} and on ${d.id}`);
          spawnedOn.set(task.id, d.id);
        }
      }
      assert.deepEqual(spawnedOn, assigned);

      // max_tasks: in the samples taken during the run, and in the replayed history.
      const limits = new Map(daemons.map((d, i) => [d.id, DAEMONS[i]!]));
      for (const [id, n] of peak) assert.ok(n <= limits.get(id)!, `daemon ${id} had ${n} live tasks (max_tasks ${limits.get(id)})`);
      const replayed = await assertMaxTasksInHistory(e2e.db, owner, limits);
      t.diagnostic(`peak live tasks per daemon (max_tasks ${DAEMONS.join(", ")}): sampled ${daemons.map((d) => peak.get(d.id) ?? 0).join(", ")}; replayed ${daemons.map((d) => replayed.get(d.id) ?? 0).join(", ")}`);
      assert.deepEqual(daemons.flatMap((d) => d.errors), []);

      assert.ok(pools.size >= 2, `jobs ran on ${pools.size} worker pool(s), not on both servers`);
      for (const s of servers) assert.equal(s.proc.child.exitCode, null, `the server on port ${s.port} kept running`);
    } finally {
      clearInterval(heartbeats);
      watching = false;
      await Promise.all([sampler.stop(), poolWatch]);
      await Promise.all(daemons.map((d) => d.stop()));
    }
  });
});
