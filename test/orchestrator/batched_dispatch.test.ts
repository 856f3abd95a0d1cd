/*
 * Batched dispatch (sql/000016, src/tasks/dispatch_steps.ts) with two in-process workers racing for
 * the jobs, fake daemons and no crontab (so no reconcile hides a lost job):
 *   - a 1 -> 300 fan-out is drained by a handful of dispatch_steps jobs, one task per step;
 *   - a daemon row another transaction holds means "wait or retry", never "no room": the tasks wait
 *     pending, and when the lock goes the dispatch_task job that found it held (it retries, then
 *     waits for the lock) assigns them, with no new event (no heartbeat, no crontab, no other job);
 *   - with the daemons full, ready steps get pending tasks, and each slot freed assigns exactly one.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Runner } from "graphile-worker";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import type { StepSpec } from "../helpers/fixtures";
import { createDirective, createOwner, directiveStatus } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { createTestWorker, waitForQuietQueue } from "../helpers/worker";

const db = useTestDatabase();

type JobEvent = { at: number; identifier: string; event: "start" | "success" | "error"; error?: string };
/** Every job event of both workers, in the order they happened. */
const jobEvents: JobEvent[] = [];
const workers: Runner[] = [];

/** Two in-process workers for the whole file (inside the suite, so the test database exists first). */
function useTwoWorkers(): void {
  before(async () => {
    for (let i = 0; i < 2; i++) {
      const w = await createTestWorker(db, { concurrency: 4 });
      w.events.on("job:start", ({ job }) => jobEvents.push({ at: Date.now(), identifier: job.task_identifier, event: "start" }));
      w.events.on("job:success", ({ job }) => jobEvents.push({ at: Date.now(), identifier: job.task_identifier, event: "success" }));
      w.events.on("job:error", ({ job, error }) =>
        jobEvents.push({ at: Date.now(), identifier: job.task_identifier, event: "error", error: String((error as Error)?.message ?? error) }),
      );
      workers.push(w);
    }
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });
}

/** Jobs started since index `from` of jobEvents, by identifier. */
function startedSince(from: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of jobEvents.slice(from)) if (e.event === "start") out[e.identifier] = (out[e.identifier] ?? 0) + 1;
  return out;
}

async function startDaemons(ownerId: string, slots: number[], behaviour: "completed" | "hold"): Promise<FakeDaemon[]> {
  const daemons: FakeDaemon[] = [];
  for (const [i, maxTasks] of slots.entries()) {
    const d = await FakeDaemon.start(db, {
      ownerId,
      name: `d${i}`,
      maxTasks,
      behaviour: () => behaviour,
    });
    daemons.push(d);
    after(() => d.stop());
  }
  return daemons;
}

type Counts = { pending: number; live: number; completed: number; other: number };
async function taskCounts(directiveId: string): Promise<Counts> {
  const r = await db.pool.query<Counts>(
    `select count(*) filter (where status = 'pending')::int as pending,
            count(*) filter (where status in ('starting', 'running'))::int as live,
            count(*) filter (where status = 'completed')::int as completed,
            count(*) filter (where status not in ('pending', 'starting', 'running', 'completed'))::int as other
       from baton.tasks where directive_id = $1`,
    [directiveId],
  );
  return r.rows[0]!;
}

/** Each daemon's live_tasks counter next to its true number of live tasks. */
async function liveCounters(daemons: FakeDaemon[]): Promise<{ counter: number; actual: number }[]> {
  const r = await db.pool.query<{ id: string; counter: number; actual: number }>(
    `select d.id, d.live_tasks as counter,
            (select count(*)::int from baton.tasks t where t.daemon_id = d.id and t.status in ('starting', 'running')) as actual
       from baton.daemons d where d.id = any ($1)`,
    [daemons.map((d) => d.id)],
  );
  const byId = new Map(r.rows.map((x) => [x.id, { counter: x.counter, actual: x.actual }]));
  return daemons.map((d) => byId.get(d.id)!);
}

describe("batched dispatch under two workers", () => {
  useTwoWorkers();

  describe("a 1 -> 300 fan-out under two workers", () => {
    it("gives every ready step exactly one task, with a few dispatch_steps jobs, and leaves no step ready without a task", async () => {
      const owner = await createOwner(db, "fan-out");
      const daemons = await startDaemons(owner, [80, 80, 80, 80], "completed");
      const heartbeats = setInterval(() => {
        for (const d of daemons) d.heartbeat().catch((err) => d.errors.push(err));
      }, 1000);
      after(() => clearInterval(heartbeats));
      await waitForQuietQueue(db);

      const leaves: StepSpec[] = Array.from({ length: 300 }, (_, i) => ({ key: `leaf${i}`, name: `leaf${i}`, dependsOn: ["root"] }));
      const steps: StepSpec[] = [{ key: "root", name: "root" }, ...leaves, { key: "join", name: "join", dependsOn: leaves.map((l) => l.key!) }];
      const from = jobEvents.length;
      const d = await createDirective(db, owner, { title: "fan-out", steps });

      // The workers run without the crontab, so no reconcile can rescue a step left ready without a
      // task: the directive reaches idle only if the event path dispatched every step.
      await waitFor(async () => (await directiveStatus(db, d.id)) === "idle", { timeoutMs: 90_000, intervalMs: 100, what: "the fan-out to finish" });
      await waitForQuietQueue(db);

      const perStep = await db.pool.query<{ name: string; status: string; tasks: string[] }>(
        `select s.name, s.status, array_agg(t.status::text order by t.attempt) filter (where t.id is not null) as tasks
           from baton.directive_steps s left join baton.tasks t on t.step_id = s.id
          where s.directive_id = $1 group by s.id, s.name, s.status`,
        [d.id],
      );
      assert.equal(perStep.rowCount, 302);
      const wrong = perStep.rows.filter((s) => s.status !== "completed" || JSON.stringify(s.tasks) !== '["completed"]');
      assert.deepEqual(wrong, [], "every step completed with exactly one task");

      const started = startedSince(from);
      // One for the root, one for the join, and the leaves in a few: far fewer than one per step.
      assert.ok((started.dispatch_steps ?? 0) >= 3, JSON.stringify(started));
      assert.ok((started.dispatch_steps ?? 0) <= 12, `dispatch_steps ran ${started.dispatch_steps} times for 302 steps: ${JSON.stringify(started)}`);
      assert.equal(started.dispatch_step ?? 0, 0, "no per-step job");
      assert.deepEqual(jobEvents.slice(from).filter((e) => e.event === "error"), [], "no job failed");
      // Both workers' counters are right and every slot is free again.
      assert.deepEqual(await liveCounters(daemons), daemons.map(() => ({ counter: 0, actual: 0 })));
      assert.deepEqual(daemons.flatMap((x) => x.errors), []);
      // What the drain cost, for the report (node --test prints diagnostics).
      console.log(`# 1 -> 300 fan-out: jobs started ${JSON.stringify(started)}`);
    });
  });

  describe("a daemon row locked by another transaction", () => {
    it("means wait, never no room: the tasks wait pending and are assigned when the lock goes, without a new event", async () => {
      const owner = await createOwner(db, "locked");
      const [daemon] = await startDaemons(owner, [5], "hold");
      await waitForQuietQueue(db);

      const holder = await db.pool.connect();
      let released = false;
      after(async () => {
        if (!released) await holder.query("rollback").catch(() => undefined);
        holder.release();
      });
      await holder.query("begin");
      await holder.query("select id from baton.daemons where id = $1 for update", [daemon!.id]);
      const holderPid = (await holder.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;

      const d = await createDirective(db, owner, { title: "locked", steps: [{ name: "a" }, { name: "b" }, { name: "c" }] });
      // The steps were started (tasks exist, pending, the steps still ready), and the dispatch_task job,
      // after its rounds that skip locked rows, waits for the daemon's row.
      await waitFor(
        async () => {
          const c = await taskCounts(d.id);
          const blocked = await db.pool.query<{ query: string }>(
            "select query from pg_stat_activity where datname = current_database() and $1 = any (pg_blocking_pids(pid))",
            [holderPid],
          );
          return c.pending === 3 && c.live === 0 && blocked.rows.some((r) => r.query.includes("assign_tasks"));
        },
        { what: "three pending tasks and a dispatch_task job waiting for the daemon's row" },
      );
      assert.deepEqual(await taskCounts(d.id), { pending: 3, live: 0, completed: 0, other: 0 });
      const steps = await db.pool.query<{ status: string }>("select status from baton.directive_steps where directive_id = $1", [d.id]);
      assert.deepEqual(steps.rows.map((s) => s.status), ["ready", "ready", "ready"]);
      assert.ok(startedSince(0).dispatch_task! > 0);

      const from = jobEvents.length;
      await holder.query("commit");
      released = true;
      await waitFor(async () => (await taskCounts(d.id)).live === 3, { what: "the three tasks to be assigned after the lock went" });
      await waitForQuietQueue(db);
      assert.deepEqual(await taskCounts(d.id), { pending: 0, live: 3, completed: 0, other: 0 });
      // The spawn_task NOTIFYs reach the daemon's LISTEN connection after the commit that assigned them.
      await waitFor(() => daemon!.spawned.length === 3, { what: "the daemon told to spawn all three" });
      // No job started after the lock went: the job that was waiting assigned them.
      assert.deepEqual(startedSince(from), {}, "jobs started after the release");
      assert.deepEqual(await liveCounters([daemon!]), [{ counter: 3, actual: 3 }]);
      assert.deepEqual(jobEvents.filter((e) => e.event === "error"), []);
    });
  });

  describe("with the daemons full", () => {
    it("gives ready steps pending tasks, and each task that finishes lets exactly one pending task in", async () => {
      const owner = await createOwner(db, "full");
      const daemons = await startDaemons(owner, [2, 2], "hold");
      await waitForQuietQueue(db);

      const d = await createDirective(db, owner, { title: "full", steps: Array.from({ length: 8 }, (_, i) => ({ name: `s${i + 1}` })) });
      await waitFor(async () => {
        const c = await taskCounts(d.id);
        return c.live === 4 && c.pending === 4;
      }, { what: "four tasks running and four waiting" });
      await waitForQuietQueue(db);
      assert.deepEqual(await taskCounts(d.id), { pending: 4, live: 4, completed: 0, other: 0 });
      const steps = await db.pool.query<{ tasks: number }>(
        "select (select count(*)::int from baton.tasks t where t.step_id = s.id) as tasks from baton.directive_steps s where s.directive_id = $1",
        [d.id],
      );
      assert.deepEqual(steps.rows.map((s) => s.tasks), Array(8).fill(1), "one task per ready step, running or waiting");
      const oldestPending = await db.pool.query<{ id: string }>(
        "select id from baton.tasks where directive_id = $1 and status = 'pending' order by created_at, id limit 1",
        [d.id],
      );

      const daemon = daemons.find((x) => x.activeTaskIds.length > 0)!;
      const finished = daemon.activeTaskIds[0]!;
      await daemon.finish(finished, "completed");
      await waitFor(async () => {
        const c = await taskCounts(d.id);
        return c.completed === 1 && c.live === 4;
      }, { what: "the freed slot to be taken" });
      await waitForQuietQueue(db);
      assert.deepEqual(await taskCounts(d.id), { pending: 3, live: 4, completed: 1, other: 0 });
      const assignments = await db.pool.query<{ n: number }>(
        `select count(*)::int as n from baton.events e join baton.tasks t on t.id = e.subject_id
          where e.subject_type = 'task' and t.directive_id = $1 and e.from_status = 'pending' and e.to_status = 'starting'`,
        [d.id],
      );
      assert.equal(assignments.rows[0]!.n, 5, "exactly one more assignment");
      const taken = await db.pool.query<{ status: string; daemon_id: string }>("select status, daemon_id from baton.tasks where id = $1", [
        oldestPending.rows[0]!.id,
      ]);
      assert.ok(["starting", "running"].includes(taken.rows[0]!.status), "the oldest waiting task got the slot");
      assert.equal(taken.rows[0]!.daemon_id, daemon.id, "on the daemon that freed it");
      assert.deepEqual(await liveCounters(daemons), [
        { counter: 2, actual: 2 },
        { counter: 2, actual: 2 },
      ]);
      assert.deepEqual(daemons.flatMap((x) => x.errors), []);
    });
  });
});
