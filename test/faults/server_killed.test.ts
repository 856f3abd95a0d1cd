/*
 * The server SIGKILLed five times in the middle of a 300-step run. One `baton server` process (worker
 * on) dispatches; four fake daemons in this process take the tasks through SQL (LISTEN, report,
 * heartbeat), so they keep working while the server is down and the test isolates what a crash does
 * to the dispatcher: transactions cut in half, and graphile-worker jobs left locked by a worker that
 * will never finish them (the open-source worker unlocks them only after 4 hours).
 *
 * Each kill comes when the run has made a given amount of progress (never after a fixed time), and
 * the server is restarted on the same database. A step whose dispatch_steps job the killed worker had
 * taken is stranded (ready, no task, its job locked); the restarted server's first reconcile must
 * dispatch it, not the crontab up to a minute later. A kill strands 0-5 steps by chance, so while the
 * server is down the test also strands one for certain: a new one-step directive whose dispatch_steps
 * job it marks locked, as a worker killed holding it leaves it. Only a reconcile repairs that state,
 * and the crontab's reconcile runs at each minute boundary, so the server is restarted in the first
 * 45 s of a minute and the stranded step's task must exist before the next boundary: without the
 * start-up reconcile (src/worker.ts) this test fails. At the end every step is
 * completed at its first attempt, no task was assigned twice, nothing is left live, and the jobs
 * still locked by the killed workers are leftovers whose work was done by others (they blocked nothing).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useE2E, startServer, waitForE2E } from "../helpers/e2e";
import { FakeDaemon } from "../helpers/fake-daemon";
import { assertExactlyOnce, assertMaxTasksInHistory, assertNoLiveTasks, chain, fanOut, killOnExit, layered } from "../helpers/faults";
import { createDirective } from "../helpers/orchestrator";

const e2e = useE2E();

const DAEMONS = [2, 3, 2, 3];
const KILL_AT = [25, 75, 125, 175, 225]; // completed steps

describe("the server SIGKILLed five times during a run", () => {
  it("restarts each time, the start-up reconcile dispatches what a killed worker stranded, and all 300 steps (and the 5 stranded on purpose) complete with one task each, none assigned twice and nothing stuck", async (t) => {
    const server = await startServer(e2e);
    killOnExit(server.proc.child);
    const owner = (await e2e.db.pool.query<{ id: string }>("select id from baton.owners")).rows[0]!.id;

    const daemons: FakeDaemon[] = [];
    for (const [i, maxTasks] of DAEMONS.entries()) {
      daemons.push(
        await FakeDaemon.start(e2e.db, {
          ownerId: owner,
          name: `fake${i}`,
          maxTasks,
          behaviour: async () => {
            await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 10)));
            return "completed" as const;
          },
        }),
      );
    }
    // Fake daemons heartbeat through SQL, as real ones do through the API (the lease is 30 s).
    const heartbeats = setInterval(() => {
      for (const d of daemons) d.heartbeat().catch((err) => d.errors.push(err));
    }, 1000);
    try {
      const specs = [[...chain("c", 60), ...fanOut("f", 38)], [...chain("p", 30), ...chain("q", 30), ...fanOut("g", 38)], layered("l", 10, 10)];
      assert.equal(specs.flat().length, 300);
      const directives = [];
      for (const [i, steps] of specs.entries()) directives.push(await createDirective(e2e.db, owner, { title: `run ${i}`, steps, start: false }));
      for (const d of directives) await e2e.db.pool.query("select baton.start_directive($1)", [d.id]);

      const completed = async () =>
        (await e2e.db.pool.query<{ n: number }>("select count(*)::int as n from baton.directive_steps where owner_id = $1 and status = 'completed'", [owner])).rows[0]!.n;
      const stranded: number[] = [];
      const extraSteps: string[] = [];
      let lastKill = new Date(0);
      for (const [k, threshold] of KILL_AT.entries()) {
        await waitForE2E(e2e, `${threshold} completed steps before kill ${k + 1}`, async () => (await completed()) >= threshold, { timeoutMs: 90_000, unless: server.proc });
        server.proc.child.kill("SIGKILL");
        await server.proc.exited;
        // Ready steps whose dispatch_steps job (one per directive) the killed worker had locked (taken, not finished): no
        // other job will dispatch them until something re-enqueues the step.
        const r = await e2e.db.pool.query<{ id: string }>(
          `select s.id from baton.directive_steps s
            where s.owner_id = $1 and s.status = 'ready'
              and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.status in ('pending', 'starting', 'running'))
              and exists (select 1 from graphile_worker._private_jobs j
                           where j.key = 'dispatch_steps:' || s.directive_id and j.locked_at is not null)`,
          [owner],
        );
        const ids = r.rows.map((s) => s.id);
        stranded.push(ids.length);
        // One more, for certain: a ready step whose dispatch_steps job a dead worker holds.
        const extra = await createDirective(e2e.db, owner, { title: `stranded by kill ${k + 1}`, steps: [{ name: `stranded${k + 1}` }] });
        const extraStep = extra.steps[`stranded${k + 1}`]!;
        const locked = await e2e.db.pool.query("update graphile_worker._private_jobs set locked_at = now() - interval '1 second', locked_by = $2 where key = $1 and locked_at is null", [
          `dispatch_steps:${extra.id}`,
          `worker-killed-by-the-test-${k + 1}`,
        ]);
        assert.equal(locked.rowCount, 1, "the new step's dispatch_steps job was queued (and is now held by a dead worker)");
        extraSteps.push(extraStep);
        // A dead worker locked that job before it died: 1 s before now. (Locked at now(), the lock could
        // fall in the same millisecond as lastKill, which JavaScript's Date truncates, and so count as
        // a live worker's job that never ends.)
        lastKill = (await e2e.db.pool.query<{ now: Date }>("select now()")).rows[0]!.now;
        // Restart early enough in a minute that the crontab's next reconcile is well ahead.
        const clock = async () => (await e2e.db.pool.query<{ second: number; now: Date }>("select extract(second from now())::float8 as second, now()")).rows[0]!;
        await waitForE2E(e2e, "the first 45 s of a minute", async () => (await clock()).second < 45, { timeoutMs: 30_000 });
        const restartedAt = (await clock()).now;
        const nextCronTick = new Date(Math.floor(restartedAt.getTime() / 60_000) * 60_000 + 60_000);
        await server.restart();
        killOnExit(server.proc.child);
        // The restarted server's first reconcile dispatches them, rather than its crontab up to a
        // minute later (src/worker.ts).
        const all = [...ids, extraStep];
        await waitForE2E(
          e2e,
          `the ${all.length} steps stranded by kill ${k + 1} to get their task`,
          async () => (await e2e.db.pool.query("select distinct step_id from baton.tasks where step_id = any ($1)", [all])).rowCount === all.length,
          { timeoutMs: 90_000, unless: server.proc },
        );
        const dispatched = (await e2e.db.pool.query<{ created_at: Date }>("select created_at from baton.tasks where step_id = $1", [extraStep])).rows[0]!.created_at;
        assert.ok(
          dispatched < nextCronTick,
          `the step stranded by kill ${k + 1} got its task at ${dispatched.toISOString()}, after the crontab's tick at ${nextCronTick.toISOString()}: the start-up reconcile did not run`,
        );
      }
      t.diagnostic(`steps stranded behind jobs locked by each killed worker: ${stranded.join(", ")}`);
      await waitForE2E(
        e2e,
        "all three directives to go idle after the last restart",
        async () => {
          const r = await e2e.db.pool.query<{ status: string }>("select status from baton.directives where owner_id = $1", [owner]);
          return r.rows.every((d) => d.status === "idle");
        },
        { timeoutMs: 120_000, unless: server.proc },
      );

      // Every step completed, at its first attempt: a kill never cost a step an attempt.
      const steps = await e2e.db.pool.query<{ status: string; attempts: string[] }>(
        `select s.status, array_agg(t.status || ':' || t.attempt order by t.attempt) as attempts
           from baton.directive_steps s left join baton.tasks t on t.step_id = s.id
          where s.owner_id = $1 group by s.id, s.status`,
        [owner],
      );
      assert.equal(steps.rowCount, 300 + extraSteps.length);
      for (const s of steps.rows) assert.deepEqual([s.status, s.attempts], ["completed", ["completed:1"]]);
      const { tasks } = await assertExactlyOnce(e2e.db, owner);
      assert.equal(tasks, 300 + extraSteps.length);
      await assertNoLiveTasks(e2e.db, owner);
      await assertMaxTasksInHistory(e2e.db, owner, new Map(daemons.map((d, i) => [d.id, DAEMONS[i]!])));
      assert.deepEqual(daemons.flatMap((d) => d.errors), []);

      // What the killed workers left locked held nothing back: no job waits to run, and the work of
      // every job still locked (it would run again in 4 hours, harmlessly) was done by others.
      await waitForE2E(e2e, "the live server's jobs to be over", async () => {
        const r = await e2e.db.pool.query(
          "select 1 from graphile_worker.jobs where locked_at is null or locked_at >= $1",
          [lastKill],
        );
        return r.rowCount === 0;
      }).catch(async (err) => {
        const jobs = await e2e.db.pool.query(
          `select j.id, j.task_identifier, j.key, j.locked_at, j.locked_by, j.run_at, j.created_at, j.attempts, j.max_attempts, j.last_error, p.payload
             from graphile_worker.jobs j join graphile_worker._private_jobs p on p.id = j.id where j.locked_at >= $1 or j.locked_at is null`,
          [lastKill],
        );
        const activity = await e2e.db.pool.query(
          "select state, wait_event, left(query, 200) as query, now() - xact_start as age from pg_stat_activity where datname = current_database() and state <> 'idle'",
        );
        throw new Error(`${(err as Error).message}\njobs: ${JSON.stringify(jobs.rows)}\nactivity: ${JSON.stringify(activity.rows)}`);
      });
      const jobs = await e2e.db.pool.query<{ task_identifier: string; payload: unknown }>(
        "select j.task_identifier, p.payload from graphile_worker.jobs j join graphile_worker._private_jobs p on p.id = j.id order by j.id",
      );
      for (const j of jobs.rows) {
        // Batched jobs: every entry of a leftover job's payload was done by some later job.
        if (j.task_identifier === "dispatch_steps") {
          // One job per directive: every step of its directive ran to completion since.
          const { directive_id } = j.payload as { directive_id: string };
          const r = await e2e.db.pool.query("select name, status from baton.directive_steps where directive_id = $1 and status <> 'completed'", [directive_id]);
          assert.deepEqual(r.rows, [], `the steps of a leftover job's directive all completed: ${directive_id}`);
        } else if (j.task_identifier === "dispatch_task") {
          for (const id of j.payload as string[]) {
            const r = await e2e.db.pool.query("select status from baton.tasks where id = $1", [id]);
            assert.deepEqual(r.rows, [{ status: "completed" }], `the task of a leftover job ran: ${id}`);
          }
        } else {
          assert.ok(["dispatch_pending", "reconcile"].includes(j.task_identifier), `unexpected leftover job ${j.task_identifier}`);
        }
      }
      t.diagnostic(`jobs left locked by the killed workers: ${jobs.rowCount} (${[...new Set(jobs.rows.map((j) => j.task_identifier))].join(", ")})`);
      assert.equal(server.proc.child.exitCode, null, "the last server is still running");
    } finally {
      clearInterval(heartbeats);
      await Promise.all(daemons.map((d) => d.stop()));
    }
  });
});
