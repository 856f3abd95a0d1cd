/*
 * Work is enqueued into graphile-worker in the transaction that creates it, exactly once: a ready
 * step of an active directive -> dispatch_step (key dispatch_step:<step>:<attempt>), a directive
 * needing a plan -> plan_directive, a task waiting for a daemon -> dispatch_task. Nothing for a draft
 * or paused directive; starting or resuming one enqueues what is ready.
 *
 * Keyed jobs go through baton_private.add_jobs (sql/000016): graphile-worker's add_jobs, plus queueing
 * again a spec it wrote no row for because a worker took the key's job between its two statements.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, createDirective, createOwner, createTask, diamond, runStep } from "../helpers/fixtures";
import { chain, jobCount, jobsWithPayload, setup } from "./support";

const db = useTestDatabase();

const call = (c: PoolClient, fn: string, id: string) => c.query(`select baton.${fn}($1)`, [id]);

/** The step attempts of the given steps that their directive's queued dispatch_steps job will start, as "name:attempt". */
async function dispatched(c: PoolClient, names: Record<string, { id: string }>): Promise<string[]> {
  const byId = new Map(Object.entries(names).map(([n, s]) => [s.id, n]));
  return (await jobsWithPayload(c, "dispatch_step"))
    .filter((j) => byId.has(j.payload.step_id as string))
    .map((j) => {
      assert.equal(j.key, `dispatch_step:${j.payload.step_id}:${j.payload.attempt}`);
      return `${byId.get(j.payload.step_id as string)}:${j.payload.attempt}`;
    })
    .sort();
}

describe("dispatch_step", () => {
  it("is queued, in one job per directive, for each step that becomes ready on an active directive", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, diamond());
      assert.deepEqual(await dispatched(c, s), ["a:1"]);
      await runStep(c, s.a!.id);
      assert.deepEqual(await dispatched(c, s), ["b:1", "c:1"]);
      await runStep(c, s.b!.id);
      assert.deepEqual(await dispatched(c, s), ["c:1"], "d still waits on c");
      await runStep(c, s.c!.id);
      assert.deepEqual(await dispatched(c, s), ["d:1"]);
      assert.equal(await jobCount(c, "dispatch_steps"), 1, "one job for the directive, replaced in place");
    }));

  it("is enqueued with the next attempt's number when an attempt fails, once", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      await runStep(c, s.a!.id, "failed");
      assert.deepEqual(await dispatched(c, s), ["a:2"]);
      assert.equal(await jobCount(c, "dispatch_steps"), 1);
    }));

  it("is not enqueued for the steps of a draft directive", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, diamond(), { start: false });
      await call(c, "complete_step", s.a!.id);
      assert.deepEqual(await dispatched(c, s), []);
    }));

  it("is enqueued for every ready step, and only those, when a draft is started", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ key: "r1", name: "r1" }, { key: "r2", name: "r2" }, { name: "w", dependsOn: ["r1"] }], { start: false });
      await call(c, "start_directive", d.id);
      assert.deepEqual(await dispatched(c, s), ["r1:1", "r2:1"]);
    }));

  it("is not enqueued while paused, and is enqueued when resumed", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await call(c, "pause_directive", d.id);
      await call(c, "complete_step", s.a!.id);
      assert.deepEqual(await dispatched(c, s), [], "a paused directive's job starts nothing");
      await call(c, "start_directive", d.id);
      assert.deepEqual(await dispatched(c, s), ["b:1"]);
    }));

  it("is not enqueued again for the same attempt when a directive is paused and resumed", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:1`), 1);
    }));

  it("is not enqueued for a step that already has a live task", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await createTask(c, s.a!.id);
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.deepEqual(await dispatched(c, s), []);
    }));

  it("is not enqueued for an archived directive", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"), { start: false });
      await call(c, "archive_directive", d.id);
      await call(c, "complete_step", s.a!.id);
      assert.deepEqual(await dispatched(c, s), []);
    }));

  it("is enqueued for steps added to an active directive", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a" }]);
      const more = await addSteps(c, d.id, [{ key: "x", name: "x" }, { name: "y", dependsOn: ["x"] }]);
      assert.deepEqual(await dispatched(c, more), ["x:1"]);
    }));
});

describe("plan_directive", () => {
  it("is enqueued once for a directive that needs a plan, however often it is started", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      const d = await createDirective(c, owner, { start: true });
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.equal(await jobCount(c, "plan_directive"), 1);
      assert.equal(await jobCount(c, "plan_directive", `plan:${d.id}:1`), 1);
    }));

  it("is not enqueued for a directive that has a plan or a planner", () =>
    withRootDb(db, async (c) => {
      await setup(c, [{ name: "a" }]);
      const { d } = await setup(c, []);
      await c.query("select baton.create_planning_task($1)", [d.id]);
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.equal(await jobCount(c, "plan_directive"), 1, "only the second directive's first start");
    }));
});

describe("dispatch_task", () => {
  it("is enqueued once for a new task that waits for a daemon", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      const t = await createTask(c, s.a!.id);
      assert.equal(t.status, "pending");
      assert.deepEqual(
        (await jobsWithPayload(c, "dispatch_task")).map((j) => [j.key, j.payload]),
        [[`dispatch_task:${t.id}`, { task_id: t.id }]],
      );
    }));

  it("is enqueued again (deduplicated) for waiting tasks when their directive is resumed", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      await createTask(c, s.a!.id);
      await call(c, "pause_directive", d.id);
      await call(c, "start_directive", d.id);
      assert.equal(await jobCount(c, "dispatch_task"), 1);
    }));
});

describe("enqueueing is transactional", () => {
  it("shows the job to other sessions only when the transaction that made it commits", async () => {
    const c = await db.pool.connect();
    const other = await db.pool.connect();
    try {
      const owner = await createOwner(c, "enqueue-commit");
      const d = await createDirective(c, owner, { start: false });
      const key = (stepId: string) => jobCount(other, "dispatch_step", `dispatch_step:${stepId}:1`);

      await c.query("begin");
      const s = await addSteps(c, d.id, [{ name: "a" }]);
      await c.query("select baton.start_directive($1)", [d.id]);
      assert.equal(await jobCount(c, "dispatch_step", `dispatch_step:${s.a!.id}:1`), 1, "visible inside the transaction");
      assert.equal(await key(s.a!.id), 0, "invisible outside it");
      await c.query("rollback");
      assert.equal(await key(s.a!.id), 0, "gone with the rollback");

      await c.query("begin");
      const s2 = await addSteps(c, d.id, [{ name: "b" }]);
      await c.query("select baton.start_directive($1)", [d.id]);
      await c.query("commit");
      assert.equal(await key(s2.b!.id), 1, "there after the commit");
    } finally {
      c.release();
      other.release();
    }
  });
});

describe("baton_private.add_jobs", () => {
  type JobRow = { key: string | null; payload: unknown; locked_by: string | null; attempts: number; max_attempts: number };
  /** Every job of the test identifier, oldest first. */
  const jobsOf = async (c: PoolClient): Promise<JobRow[]> =>
    (
      await c.query<JobRow>(
        `select j.key, j.payload::jsonb as payload, j.locked_by, j.attempts, j.max_attempts
           from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
          where t.identifier = 'add_jobs_test' order by j.id`,
      )
    ).rows;
  /** One spec of the test identifier (no worker runs it: nothing is dispatched). */
  const add = (c: PoolClient, fn: "baton_private.add_jobs" | "graphile_worker.add_jobs", key: string, payload: unknown) =>
    c.query(`select count(*)::int as n from (select ${fn}(array[row('add_jobs_test', $1::json, null, null, 10, $2, null, null)::graphile_worker.job_spec])) x`, [
      JSON.stringify(payload),
      key,
    ]);
  /** What a worker does when it takes a job: lock it. */
  const take = (c: PoolClient, key: string) =>
    c.query("update graphile_worker._private_jobs set locked_at = now(), locked_by = 'worker-1' where key = $1 and locked_at is null", [key]);

  it("appends an array payload to the key's job while no worker has taken it (batched jobs)", () =>
    withRootDb(db, async (c) => {
      await add(c, "baton_private.add_jobs", "k", [1]);
      await add(c, "baton_private.add_jobs", "k", [2, 3]);
      assert.deepEqual(await jobsOf(c), [{ key: "k", payload: [1, 2, 3], locked_by: null, attempts: 0, max_attempts: 10 }]);
    }));

  it("queues a new job with the payload when a worker has taken the key's job, which keeps its own payload and loses the key", () =>
    withRootDb(db, async (c) => {
      await add(c, "baton_private.add_jobs", "k", [1]);
      await take(c, "k");
      await add(c, "baton_private.add_jobs", "k", [2]);
      assert.deepEqual(await jobsOf(c), [
        // The taken job runs with what it had; graphile-worker does not retry it (attempts = max_attempts).
        { key: null, payload: [1], locked_by: "worker-1", attempts: 10, max_attempts: 10 },
        { key: "k", payload: [2], locked_by: null, attempts: 0, max_attempts: 10 },
      ]);
      await add(c, "baton_private.add_jobs", "k", [3]);
      assert.deepEqual(
        (await jobsOf(c)).map((j) => [j.key, j.payload]),
        [
          [null, [1]],
          ["k", [2, 3]],
        ],
        "later specs append to the new job",
      );
    }));

  /*
   * The race, made deterministic: graphile_worker.add_jobs first clears the key of a job a worker
   * holds (an UPDATE), then inserts ON CONFLICT (key) DO UPDATE ... WHERE locked_at IS NULL. A
   * statement trigger on that first UPDATE takes the key's job, as a worker committing its lock in
   * between would.
   */
  async function raceOn(c: PoolClient, key: string): Promise<void> {
    await c.query(`create function pg_temp.take_between() returns trigger language plpgsql as $$
      declare v_key text := current_setting('test.take_key', true);
      begin
        if coalesce(v_key, '') <> '' then
          perform set_config('test.take_key', '', true);  -- once: this UPDATE fires the trigger again
          update graphile_worker._private_jobs set locked_at = now(), locked_by = 'worker-1' where key = v_key and locked_at is null;
        end if;
        return null;
      end $$`);
    await c.query("create trigger take_between after update on graphile_worker._private_jobs for each statement execute function pg_temp.take_between()");
    await c.query("select set_config('test.take_key', $1, true)", [key]);
  }

  it("loses nothing when a worker takes the key's job between graphile-worker's two statements (graphile_worker.add_jobs alone would)", () =>
    withRootDb(db, async (c) => {
      // graphile-worker alone: no row written, and the new payload is gone.
      await add(c, "graphile_worker.add_jobs", "lost", [1]);
      await raceOn(c, "lost");
      const r = await add(c, "graphile_worker.add_jobs", "lost", [2]);
      assert.equal(r.rows[0]!.n, 0, "graphile_worker.add_jobs wrote no row");
      assert.deepEqual(
        (await jobsOf(c)).map((j) => [j.key, j.payload, j.locked_by]),
        [["lost", [1], "worker-1"]],
        "the premise: the spec [2] is lost",
      );

      // Baton's add_jobs: the spec is queued again, now under a key the taken job gave up.
      await add(c, "baton_private.add_jobs", "kept", [1]);
      await c.query("select set_config('test.take_key', 'kept', true)");
      await add(c, "baton_private.add_jobs", "kept", [2]);
      assert.deepEqual(
        (await jobsOf(c)).filter((j) => j.key !== "lost").map((j) => [j.key, j.payload, j.locked_by]),
        [
          [null, [1], "worker-1"],
          ["kept", [2], null],
        ],
      );
    }));
});
