/*
 * No full scans on the hot path (issue 10 point 3), counted with pg_stat_xact_user_tables (this
 * transaction's scans per table). enqueue_dispatch_steps is called by every step UPDATE's statement
 * trigger, mostly with an empty array: it must not read anything then (its plan used to start from
 * every active directive). assign_task's per-daemon count of live tasks must use an index
 * (tasks_daemon_live_idx), whatever the size of tasks.
 *
 * The batched dispatch (sql/000016): start_execution_tasks starts N steps with a constant number of
 * statements, counted with pg_stat_xact_user_functions (track_functions = all): each statement on a
 * table fires that table's statement-level triggers once, so their calls count the statements.
 * assign_tasks reads the tasks it is given and their steps' earlier attempts, never all of tasks:
 * counted in tuples read, with a history of thousands of tasks and fresh statistics (ANALYZE), as a
 * long-lived database has them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { createDaemon, jobsWithPayload, q, setup } from "./support";

const db = useTestDatabase();

type Scans = Record<string, { seq: number; idx: number }>;

async function scans(c: PoolClient): Promise<Scans> {
  const r = await c.query<{ relname: string; seq_scan: string; idx_scan: string }>(
    "select relname, seq_scan, idx_scan from pg_stat_xact_user_tables where schemaname = 'baton'",
  );
  return Object.fromEntries(r.rows.map((x) => [x.relname, { seq: Number(x.seq_scan), idx: Number(x.idx_scan) }]));
}

/** The scans of each table that fn made (tables it did not touch are left out). */
async function scansOf(c: PoolClient, fn: () => Promise<unknown>): Promise<Scans> {
  const before = await scans(c);
  await fn();
  const after = await scans(c);
  const made: Scans = {};
  for (const [t, n] of Object.entries(after)) {
    const d = { seq: n.seq - (before[t]?.seq ?? 0), idx: n.idx - (before[t]?.idx ?? 0) };
    if (d.seq > 0 || d.idx > 0) made[t] = d;
  }
  return made;
}

/** Active directives of one owner, each with one ready step. */
async function activeDirectives(c: PoolClient, n: number): Promise<{ owner: string; steps: string[] }> {
  const first = await setup(c, [{ key: "s", name: "s" }]);
  const steps = [first.s.s!.id];
  for (let i = 1; i < n; i++) steps.push((await setup(c, [{ key: "s", name: "s" }], { owner: first.owner })).s.s!.id);
  return { owner: first.owner, steps };
}

describe("the hot path's scans", () => {
  it("enqueue_dispatch_steps with no steps reads no directive and no step, however many directives are active", () =>
    withRootDb(db, async (c) => {
      await activeDirectives(c, 5);
      const made = await scansOf(c, () => c.query("select baton_private.enqueue_dispatch_steps('{}')"));
      assert.deepEqual(made, {});
    }));

  it("enqueue_dispatch_steps with one step reads that step and its directive, and queues its dispatch only", () =>
    withRootDb(db, async (c) => {
      const { steps } = await activeDirectives(c, 20);
      await c.query("delete from graphile_worker._private_jobs");
      const made = await scansOf(c, () => c.query("select baton_private.enqueue_dispatch_steps(array[$1::uuid, $1::uuid])", [steps[7]]));
      assert.equal(made.directive_steps?.seq ?? 0, 0);
      assert.ok((made.directive_steps?.idx ?? 0) <= 1, `directive_steps was scanned ${made.directive_steps?.idx} times`);
      assert.ok((made.directives?.idx ?? 0) <= 1 && (made.directives?.seq ?? 0) === 0, JSON.stringify(made.directives));
      const queued = await jobsWithPayload(c, "dispatch_step");
      assert.deepEqual(queued.map((j) => j.payload), [{ step_id: steps[7], attempt: 1 }]);
    }));

  it("assign_task counts a daemon's live tasks through an index, not by scanning tasks", () =>
    withRootDb(db, async (c) => {
      const { owner, steps } = await activeDirectives(c, 3);
      await createDaemon(c, owner, { maxTasks: 1 });
      const created: { id: string; status: string }[] = [];
      for (const s of steps) created.push(await q<{ id: string; status: string }>(c, "select id, status from baton.create_execution_task($1, 'p')", [s]));
      assert.deepEqual(created.map((t) => t.status), ["starting", "pending", "pending"]);
      await c.query("set local enable_seqscan = off"); // a scan of tasks then only happens when no index serves the predicate
      let assigned: unknown;
      const made = await scansOf(c, async () => (assigned = (await q<{ t: unknown }>(c, "select baton.assign_task($1) as t", [created[1]!.id])).t));
      assert.equal(assigned, null, "the daemon is full");
      assert.equal(made.tasks?.seq ?? 0, 0, JSON.stringify(made));
    }));
});

type Calls = Record<string, number>;

/** Calls of each Baton function that fn made (track_functions = all, this transaction's counts). */
async function callsOf(c: PoolClient, fn: () => Promise<unknown>): Promise<Calls> {
  await c.query("set local track_functions = 'all'");
  const read = async () =>
    new Map(
      (await c.query<{ funcname: string; calls: string }>("select funcname, calls from pg_stat_xact_user_functions where schemaname in ('baton', 'baton_private')")).rows.map(
        (r) => [r.funcname, Number(r.calls)],
      ),
    );
  const before = await read();
  await fn();
  const made: Calls = {};
  for (const [f, n] of await read()) if (n - (before.get(f) ?? 0) > 0) made[f] = n - (before.get(f) ?? 0);
  return made;
}

/** A started directive with n ready steps, two daemons with room for all, and the calls of start_execution_tasks on them. */
async function startCalls(c: PoolClient, n: number): Promise<Calls> {
  const { owner, d, s } = await setup(c, Array.from({ length: n }, (_, i) => ({ key: `s${i}`, name: `s${i}` })));
  await createDaemon(c, owner, { name: "a", maxTasks: 50 });
  await createDaemon(c, owner, { name: "b", maxTasks: 50 });
  const steps = Object.values(s).map((x) => ({ step_id: x.id, attempt: 1, prompt: "p" }));
  let started: { daemon_id: string | null }[] = [];
  const calls = await callsOf(c, async () => {
    started = (await c.query("select * from baton_private.start_execution_tasks($1, $2::jsonb)", [d.id, JSON.stringify(steps)])).rows;
  });
  assert.equal(started.length, n);
  assert.ok(started.every((t) => t.daemon_id !== null), "every task went to a daemon");
  return calls;
}

/** The statement-level trigger functions of tasks and directive_steps: one call per statement on the table. */
const TASK_STATEMENTS = ["tg_tasks__count_live"];
const STEP_STATEMENTS = ["tg_directive_steps__count_open", "tg_directive_steps__enqueue_ready"];
const pick = (calls: Calls, names: string[]) => Object.fromEntries(names.map((f) => [f, calls[f] ?? 0]));

describe("start_execution_tasks' statements", () => {
  it("writes 1 or 20 steps' tasks in one INSERT and one assigning UPDATE, with one directive lock and one assign_tasks", () =>
    withRootDb(db, async (c) => {
      const expected = { tg_tasks__count_live: 2, lock_directive: 1, assign_tasks: 1, apply_live_task_deltas: 1, enqueue_dispatch_tasks: 0 };
      for (const n of [1, 20]) {
        const calls = await startCalls(c, n);
        assert.deepEqual(pick(calls, Object.keys(expected)), expected, `${n} steps: ${JSON.stringify(calls)}`);
      }
    }));

  // Until the steps of started tasks moved in a statement trigger (tg_tasks__mirror_started), the
  // per-row mirror ran one UPDATE of directive_steps per started task: 21 statements for 20 steps.
  it(
    "moves the steps of 1 or 20 started tasks with the same number of statements",
    () =>
      withRootDb(db, async (c) => {
        const one = await startCalls(c, 1);
        const twenty = await startCalls(c, 20);
        assert.deepEqual(pick(twenty, STEP_STATEMENTS), pick(one, STEP_STATEMENTS), JSON.stringify({ one, twenty }));
        assert.deepEqual(pick(twenty, TASK_STATEMENTS), pick(one, TASK_STATEMENTS));
      }),
  );
});

/** Tuples of tasks read (sequentially or through an index) and its sequential scans, made by fn. */
async function tasksRead(c: PoolClient, fn: () => Promise<unknown>): Promise<{ seqScans: number; tuples: number }> {
  const read = () =>
    q<{ seq_scan: string; seq_tup_read: string; idx_tup_fetch: string }>(
      c,
      "select seq_scan, seq_tup_read, idx_tup_fetch from pg_stat_xact_user_tables where schemaname = 'baton' and relname = 'tasks'",
    );
  const a = await read();
  await fn();
  const b = await read();
  return {
    seqScans: Number(b.seq_scan) - Number(a.seq_scan),
    tuples: Number(b.seq_tup_read) - Number(a.seq_tup_read) + Number(b.idx_tup_fetch) - Number(a.idx_tup_fetch),
  };
}

describe("assign_tasks' reads", () => {
  // Before 494f521 its failed-attempt check lacked kind = 'execution', so no index on step_id served
  // it (tasks_one_per_step_attempt is partial): a Seq Scan of tasks per pending task, 20 scans and
  // 100,400 tuples read here.
  it(
    "assigns 20 pending tasks reading a few tuples of tasks, not the 5,000 tasks of the history",
    () =>
      withRootDb(db, async (c) => {
        // The history: 5,000 failed attempts of another step, each on a daemon, and fresh statistics.
        const old = await setup(c, [{ key: "h", name: "h" }]);
        const oldDaemon = await createDaemon(c, old.owner, { maxTasks: 1 });
        await c.query(
          `insert into baton.tasks (owner_id, directive_id, step_id, kind, attempt, status, daemon_id, finished_at, prompt)
           select $1, $2, $3, 'execution', g, 'failed', $4, now(), 'p' from generate_series(1, 5000) g`,
          [old.owner, old.d.id, old.s.h!.id, oldDaemon],
        );
        const { owner, d, s } = await setup(c, Array.from({ length: 20 }, (_, i) => ({ key: `s${i}`, name: `s${i}` })));
        const steps = Object.values(s).map((x) => ({ step_id: x.id, attempt: 1, prompt: "p" }));
        const pending = (await c.query<{ task_id: string; daemon_id: string | null }>("select * from baton_private.start_execution_tasks($1, $2::jsonb)", [d.id, JSON.stringify(steps)])).rows;
        assert.ok(pending.length === 20 && pending.every((t) => t.daemon_id === null), "no daemon yet: the tasks wait");
        await createDaemon(c, owner, { maxTasks: 20 });
        await c.query("analyze baton.tasks");

        let assigned = 0;
        const made = await tasksRead(c, async () => {
          assigned = (await q<{ n: number }>(c, "select baton_private.assign_tasks($1::uuid[], true) as n", [pending.map((t) => t.task_id)])).n;
        });
        assert.equal(assigned, 20);
        assert.equal(made.seqScans, 0, `sequential scans of tasks: ${JSON.stringify(made)}`);
        assert.ok(made.tuples < 500, `assign_tasks read ${made.tuples} tuples of tasks for 20 tasks`);
      }),
  );
});
