/*
 * A daemon token's reads (sql/000012's select_visible policies): what the daemon may see is computed
 * once per statement, not once per row of the directive. Before issue 10's hot-path rewrite the
 * policies called daemon_works_on for each row, which scanned the directive's tasks and called
 * current_daemon_id for each of them: a report in a 10,000-step directive spent 26 ms there.
 * Calls are counted with track_functions = 'all' (pg_stat_xact_user_functions, this transaction).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { createDaemon, q, setup, startStep } from "./support";

const db = useTestDatabase();
const STEPS = 40;

/** A started directive of STEPS independent steps, each with a running task on the owner's one daemon. */
async function busyDirective(c: PoolClient) {
  const steps = Array.from({ length: STEPS }, (_, i) => ({ key: `s${i}`, name: `step ${i}` }));
  const { owner, d, s } = await setup(c, steps, { start: false });
  const daemon = await createDaemon(c, owner, { maxTasks: STEPS });
  await c.query("select baton.start_directive($1)", [d.id]);
  for (const step of Object.values(s)) await startStep(c, step.id);
  return { owner, directive: d.id, daemon };
}

/** Runs sql as the daemon's token (transaction-local settings, as the API sets them); returns its rows and the calls of each baton_private function it made. */
async function asDaemon(c: PoolClient, w: { owner: string; daemon: string }, sql: string, params: unknown[]) {
  await c.query("select set_config('track_functions', 'all', true)");
  const before = await calls(c);
  await c.query("select set_config('baton.owner_id', $1, true), set_config('baton.daemon_id', $2, true), set_config('baton.token_gen', '0', true)", [w.owner, w.daemon]);
  await c.query("select set_config('role', 'baton_daemon', true)");
  let rows: Record<string, unknown>[];
  try {
    rows = (await c.query(sql, params)).rows;
  } finally {
    await c.query("reset role");
  }
  const after = await calls(c);
  const made: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) if (n - (before[name] ?? 0) > 0) made[name] = n - (before[name] ?? 0);
  return { rows, made };
}

async function calls(c: PoolClient): Promise<Record<string, number>> {
  const r = await c.query<{ funcname: string; calls: string }>("select funcname, calls from pg_stat_xact_user_functions where schemaname = 'baton_private'");
  return Object.fromEntries(r.rows.map((x) => [x.funcname, Number(x.calls)]));
}

describe("a daemon token's read of a directive's rows", () => {
  it("sees every step of a directive it works on, computing its visibility once for the statement, not once per step or task", () =>
    withRootDb(db, async (c) => {
      const w = await busyDirective(c);
      const { rows, made } = await asDaemon(c, w, "select id from baton.directive_steps where directive_id = $1", [w.directive]);
      assert.equal(rows.length, STEPS);
      assert.equal(made.daemon_works_on ?? 0, 0, "the policy no longer calls daemon_works_on per row");
      assert.equal(made.daemon_directive_ids, 1);
      assert.ok((made.current_daemon_id ?? 0) <= 2, `current_daemon_id was called ${made.current_daemon_id} times for ${STEPS} steps`);
      assert.ok((made.current_api_role ?? 0) <= 3, `current_api_role was called ${made.current_api_role} times for ${STEPS} steps`);
    }));

  it("sees nothing of another owner's directive, and its plan reads the daemon's directives once (a hashed subplan)", () =>
    withRootDb(db, async (c) => {
      const w = await busyDirective(c);
      const other = await busyDirective(c);
      const { rows } = await asDaemon(c, w, "select id from baton.directive_steps where directive_id = $1", [other.directive]);
      assert.equal(rows.length, 0);
      const seen = await asDaemon(c, w, "select count(*)::int as n from baton.directives", []);
      assert.deepEqual(seen.rows, [{ n: 1 }]);
      const plan = await asDaemon(c, w, "explain select id from baton.directive_steps where directive_id = $1", [w.directive]);
      const text = plan.rows.map((r) => String(r["QUERY PLAN"])).join("\n");
      assert.match(text, /hashed SubPlan/, text);
      assert.doesNotMatch(text, /daemon_works_on/, text);
    }));

  it("daemon_works_on (lock_directive's check) says yes for the daemon's directive and no for another, and an owner's token sees its own directive whole", () =>
    withRootDb(db, async (c) => {
      const w = await busyDirective(c);
      const other = await busyDirective(c);
      const works = await asDaemon(c, w, "select baton_private.daemon_works_on($1) as mine, baton_private.daemon_works_on($2) as theirs", [w.directive, other.directive]);
      assert.deepEqual(works.rows, [{ mine: true, theirs: false }]);
      await c.query("select set_config('baton.owner_id', $1, true), set_config('baton.token_gen', '0', true), set_config('role', 'baton_user', true)", [w.owner]);
      const n = await q<{ n: number }>(c, "select count(*)::int as n from baton.directive_steps where directive_id = $1", [w.directive]);
      await c.query("reset role");
      assert.equal(n.n, STEPS);
    }));
});
