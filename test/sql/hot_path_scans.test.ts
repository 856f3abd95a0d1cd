/*
 * No full scans on the hot path (issue 10 point 3), counted with pg_stat_xact_user_tables (this
 * transaction's scans per table). enqueue_dispatch_steps is called by every step UPDATE's statement
 * trigger, mostly with an empty array: it must not read anything then (its plan used to start from
 * every active directive). assign_task's per-daemon count of live tasks must use an index
 * (tasks_daemon_live_idx), whatever the size of tasks.
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
