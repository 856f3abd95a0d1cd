/*
 * set-deps racing a dispatch, on two connections: the real dispatch_step task (src/tasks) on one
 * connection, a setStepDependencies request through the API (the server's own connection) on the
 * other, both about the same ready step y, which set-deps would make wait for another step. Exactly
 * one wins. If the dispatch wins, set-deps is refused with BTSTS and changes nothing; if set-deps wins,
 * the dispatch ends quietly and creates nothing. Never both, never half of either: first each order
 * forced with a lock, then the two sent at the same moment, many times.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { JobHelpers } from "graphile-worker";
import type { PoolClient } from "pg";
import { silentLogger } from "../../src/logger";
import { dispatchStep } from "../../src/tasks/dispatch_step";
import { post, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { changedTables, snapshot } from "../helpers/snapshot";
import { waitFor } from "../helpers/wait";

const db = useTestDatabase();
const ROUNDS = 20;

const SET_DEPS = `mutation ($s: UUID!, $deps: [UUID]) { setStepDependencies(input: { stepId: $s, dependsOn: $deps }) { result { rowId status remainingDeps } } }`;
const refusal = (y: string) => new RegExp(`^Step ${y} is (running|ready), so its dependencies cannot be changed; only pending, ready or blocked steps without a task can\\.$`);

/** The real dispatch_step job for attempt 1 of a step, its SQL on `client` (inside whatever transaction is open there). */
function dispatch(client: PoolClient, stepId: string): Promise<void> {
  const helpers = { job: { task_identifier: "dispatch_step", id: "race" }, withPgClient: <T>(fn: (c: PoolClient) => Promise<T>) => fn(client) };
  return dispatchStep({ logger: silentLogger })({ step_id: stepId, attempt: 1 }, helpers as unknown as JobHelpers) as Promise<void>;
}

type StepState = { status: string; deps: string[]; tasks: number; dep_events: number };

describe("set-deps racing a dispatch", () => {
  const server = useTestServer(db, { worker: false });
  let c1: PoolClient;
  let c2: PoolClient;
  let directive: string;
  let anchor: string; // the step set-deps makes y wait for (ready, never dispatched here)
  const ys: string[] = []; // ready steps, one per race

  before(async () => {
    const owner = server.credentials.owner_id;
    [c1, c2] = await Promise.all([db.pool.connect(), db.pool.connect()]);
    await c1.query("select baton.register_daemon('racer', max_tasks => 1000, owner_id => $1)", [owner]);
    directive = (await c1.query<{ id: string }>("select id from baton.create_directive('Race', 'Race set-deps and dispatch', owner_id => $1)", [owner])).rows[0]!.id;
    const steps = JSON.stringify([{ name: "anchor" }, ...Array.from({ length: ROUNDS + 2 }, (_, i) => ({ name: `y${i}` }))]);
    const rows = (await c1.query<{ id: string; name: string }>("select id, name from baton.batch_add_steps($1, $2)", [directive, steps])).rows;
    anchor = rows.find((r) => r.name === "anchor")!.id;
    ys.push(...rows.filter((r) => r.name !== "anchor").map((r) => r.id));
    await c1.query("select baton.start_directive($1)", [directive]);
  });
  after(() => {
    c1?.release();
    c2?.release();
  });

  const setDeps = (y: string) => post(server, SET_DEPS, { s: y, deps: [anchor] }, server.credentials.token);
  const state = async (y: string): Promise<StepState> =>
    (
      await db.pool.query<StepState>(
        `select s.status, coalesce((select array_agg(d.depends_on_step_id::text) from baton.step_dependencies d where d.step_id = s.id), '{}') as deps,
                (select count(*)::int from baton.tasks t where t.step_id = s.id) as tasks,
                (select count(*)::int from baton.events e where e.subject_id = s.id and e.kind = 'dependencies_changed') as dep_events
           from baton.directive_steps s where s.id = $1`,
        [y],
      )
    ).rows[0]!;
  /** Sessions of this database waiting for a lock. */
  const waiting = async () =>
    (await db.pool.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")).rows[0]!.n;

  it("refuses set-deps (BTSTS) and changes nothing when the dispatch got there first", async () => {
    const y = ys[0]!;
    await c1.query("begin");
    let committed = false;
    try {
      await dispatch(c1, y);
      const afterDispatch = await snapshot(db, c1); // what the dispatch alone makes of the database
      const request = setDeps(y);
      await waitFor(async () => (await waiting()) >= 1, { what: "set-deps to wait for the dispatch's directive lock" });
      await c1.query("commit");
      committed = true;
      const r = await request;
      assert.equal(r.errors?.[0]?.extensions?.code, "BTSTS", JSON.stringify(r));
      assert.match(r.errors![0]!.message, refusal(y));
      assert.equal(r.data?.setStepDependencies, null);
      assert.deepEqual(changedTables(afterDispatch, await snapshot(db)), [], "the refused set-deps changed nothing");
      assert.deepEqual(await state(y), { status: "running", deps: [], tasks: 1, dep_events: 0 });
    } finally {
      if (!committed) await c1.query("rollback");
    }
  });

  it("re-wires the step and lets the dispatch end quietly, creating nothing, when set-deps got there first", async () => {
    const y = ys[1]!;
    const before = await snapshot(db);
    // c2 holds the directive's lock, so both queue behind it: set-deps first, then the dispatch.
    await c2.query("begin");
    await c2.query("select 1 from baton.directives where id = $1 for update", [directive]);
    const request = setDeps(y);
    await waitFor(async () => (await waiting()) >= 1, { what: "set-deps to queue for the directive lock" });
    const dispatched = dispatch(c1, y);
    await waitFor(async () => (await waiting()) >= 2, { what: "the dispatch to queue behind set-deps" });
    await c2.query("rollback");
    const r = await request;
    await dispatched; // ends without an error: the step stopped being dispatchable
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    assert.deepEqual(r.data.setStepDependencies.result, { rowId: y, status: "pending", remainingDeps: 1 });
    assert.deepEqual(await state(y), { status: "pending", deps: [anchor], tasks: 0, dep_events: 1 });
    // What changed is set-deps' own doing; the dispatch created no task and enqueued nothing.
    const changed = changedTables(before, await snapshot(db)).map((t) => t.split(" ")[0]);
    for (const t of ["baton.tasks", "graphile_worker._private_jobs", "baton.task_output", "baton.daemons"]) assert.ok(!changed.includes(t), `${t} changed: ${changed}`);
  });

  it(`ends with exactly one winner when both are sent at once (${ROUNDS} rounds)`, async (t) => {
    const outcomes = { setDeps: 0, dispatch: 0 };
    for (const y of ys.slice(2)) {
      const [r] = await Promise.all([setDeps(y), dispatch(c1, y)]);
      const s = await state(y);
      if (r.errors) {
        // The dispatch won: set-deps was refused as a whole.
        assert.equal(r.errors[0]!.extensions?.code, "BTSTS", JSON.stringify(r.errors));
        assert.match(r.errors[0]!.message, refusal(y));
        assert.deepEqual(s, { status: "running", deps: [], tasks: 1, dep_events: 0 }, `round for ${y}`);
        outcomes.dispatch++;
      } else {
        // set-deps won: the dispatch created nothing.
        assert.deepEqual(r.data.setStepDependencies.result, { rowId: y, status: "pending", remainingDeps: 1 });
        assert.deepEqual(s, { status: "pending", deps: [anchor], tasks: 0, dep_events: 1 }, `round for ${y}`);
        outcomes.setDeps++;
      }
    }
    assert.equal(outcomes.setDeps + outcomes.dispatch, ROUNDS);
    t.diagnostic(`set-deps won ${outcomes.setDeps} rounds, the dispatch ${outcomes.dispatch}`);
    // No step anywhere runs with an unmet dependency, and each has at most one task.
    const bad = await db.pool.query(
      `select s.id, s.status, s.remaining_deps, (select count(*) from baton.tasks t where t.step_id = s.id) as tasks
         from baton.directive_steps s where s.directive_id = $1
          and (s.status = 'running' and s.remaining_deps > 0 or (select count(*) from baton.tasks t where t.step_id = s.id) > 1)`,
      [directive],
    );
    assert.deepEqual(bad.rows, []);
  });
});
