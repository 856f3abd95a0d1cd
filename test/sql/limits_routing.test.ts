/*
 * Limits, fairness and routing (issue 12 points 4 and 6, sql/000026_limits_fairness_routing.sql):
 *   - directives.max_parallel and owners.max_parallel are never exceeded, also by assigners racing
 *     in committed transactions over several daemons (each could lock a different daemon);
 *   - a task held back by a limit is assigned by the report that frees a slot of its directive;
 *   - free slots go round-robin over an owner's directives (nothing running first), priority breaks ties;
 *   - a step's agent goes only to a daemon with that label; step_waits says why a ready step waits;
 *   - bad input is refused with the exact message.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ClientBase, PoolClient } from "pg";
import { assertDbError, inSavepoint, useTestDatabase, withRootDb } from "../helpers/db";
import { report } from "../helpers/fixtures";
import { createDaemon, q, setup } from "./support";

const db = useTestDatabase();

const steps = (n: number, prefix = "s") => Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, name: `${prefix}${i}` }));

/** Creates the first attempt's task of each step of a started directive (assigned where room and limits allow). */
async function startAll(c: ClientBase, directiveId: string, stepIds: string[]): Promise<{ task_id: string; daemon_id: string | null }[]> {
  const entries = stepIds.map((id) => ({ step_id: id, attempt: 1, prompt: "p" }));
  return (await c.query("select task_id, daemon_id from baton_private.start_execution_tasks($1, $2::jsonb)", [directiveId, JSON.stringify(entries)])).rows;
}

async function live(c: ClientBase, where: string, id: string): Promise<number> {
  return (await q<{ n: number }>(c, `select count(*)::int as n from baton.tasks where ${where} = $1 and status in ('starting', 'running', 'checking')`, [id])).n;
}

/** Finishes one live task of the directive (reported running, then completed): its report refills the daemon. */
async function finishOne(c: ClientBase, directiveId: string): Promise<string> {
  const t = await q<{ id: string; status: string }>(
    c,
    "select id, status from baton.tasks where directive_id = $1 and status in ('starting', 'running') order by assigned_at, created_at, id limit 1",
    [directiveId],
  );
  if (t.status === "starting") await report(c, t.id, "running");
  await report(c, t.id, "completed");
  return t.id;
}

/** Runs fn with clients outside a transaction (each statement commits), released at its end. */
async function withClients(fn: (client: () => Promise<PoolClient>) => Promise<void>): Promise<void> {
  const clients: PoolClient[] = [];
  try {
    await fn(async () => {
      const c = await db.pool.connect();
      clients.push(c);
      return c;
    });
  } finally {
    for (const c of clients) c.release();
  }
}

describe("max_parallel", () => {
  it("holds a directive's tasks beyond its max_parallel back, and gives each slot its directive frees to the next one", () =>
    withRootDb(db, async (c) => {
      const { owner, d, s } = await setup(c, steps(5));
      await createDaemon(c, owner, { maxTasks: 10 });
      await c.query("select baton.set_directive_max_parallel($1, 2)", [d.id]);
      const started = await startAll(c, d.id, Object.values(s).map((x) => x.id));
      assert.equal(started.filter((t) => t.daemon_id !== null).length, 2, "two of five tasks go to the daemon, which has room for ten");
      assert.deepEqual(await q(c, "select pending, room from baton_private.pending_with_room($1::uuid[])", [started.map((t) => t.task_id)]), { pending: 3, room: false });
      await finishOne(c, d.id);
      assert.equal(await live(c, "directive_id", d.id), 2, "the freed slot went to a held-back task of the directive");
      assert.equal((await q<{ n: number }>(c, "select count(*)::int as n from baton.tasks where directive_id = $1 and status = 'pending'", [d.id])).n, 2);
      // Raising the limit queues the waiting tasks' assignment; removing it lets them all go.
      await c.query("select baton.set_directive_max_parallel($1, null)", [d.id]);
      assert.equal(await q<{ n: number }>(c, "select baton_private.assign_tasks(array(select id from baton.tasks where directive_id = $1 and status = 'pending'), false) as n", [d.id]).then((r) => r.n), 2);
    }));

  it("holds an owner's tasks beyond its max_parallel back over all its directives", () =>
    withRootDb(db, async (c) => {
      const a = await setup(c, steps(3, "a"));
      const b = await setup(c, steps(3, "b"), { owner: a.owner });
      await createDaemon(c, a.owner, { maxTasks: 10 });
      await c.query("select baton.set_owner_max_parallel($1, $2)", [4, a.owner]);
      await startAll(c, a.d.id, Object.values(a.s).map((x) => x.id));
      const bs = await startAll(c, b.d.id, Object.values(b.s).map((x) => x.id));
      assert.equal(await live(c, "owner_id", a.owner), 4);
      assert.equal(bs.filter((t) => t.daemon_id !== null).length, 1, "b got the one place a's three left");
      await finishOne(c, a.d.id);
      assert.equal(await live(c, "owner_id", a.owner), 4, "the freed place went to a waiting task");
    }));

  it("is never exceeded by assigners racing in committed transactions over several daemons", () => withClients(async (client) => {
    const c = await client();
    const { owner, d, s } = await setup(c, steps(20));
    await c.query("select baton.set_directive_max_parallel($1, 3)", [d.id]);
    const ids = (await startAll(c, d.id, Object.values(s).map((x) => x.id))).map((t) => t.task_id);
    for (let i = 0; i < 4; i++) await createDaemon(c, owner, { name: `d${i}`, maxTasks: 5 });
    const [a, b, w] = [await client(), await client(), await client()];
    await a.query("begin");
    assert.equal((await q<{ n: number }>(a, "select baton_private.assign_tasks($1::uuid[], true) as n", [ids])).n, 3);
    // a holds the directive's limit lock until it commits: b (skipping) assigns nothing, w (waiting) waits.
    await b.query("begin");
    assert.equal((await q<{ n: number }>(b, "select baton_private.assign_tasks($1::uuid[], true) as n", [ids])).n, 0);
    await b.query("commit");
    await w.query("begin");
    const waiting = q<{ n: number }>(w, "select baton_private.assign_tasks($1::uuid[], false) as n", [ids]);
    await a.query("commit");
    assert.equal((await waiting).n, 0, "after a committed, the waiting assigner counts a's three");
    await w.query("commit");
    assert.equal(await live(c, "directive_id", d.id), 3);

    // A burst: eight assigners at once, half waiting, half skipping, each committing.
    const other = await setup(c, steps(20, "o"), { owner });
    await c.query("select baton.set_directive_max_parallel($1, 5)", [other.d.id]);
    const more = await Promise.all(Array.from({ length: 8 }, () => client()));
    await c.query("select baton.set_daemon_labels(id, '{}') from baton.daemons where owner_id = $1", [owner]); // (no change: exercises the call)
    const otherIds = (await startAll(c, other.d.id, Object.values(other.s).map((x) => x.id))).map((t) => t.task_id);
    assert.equal(await live(c, "directive_id", other.d.id), 5);
    await Promise.all(more.map(async (m, i) => {
      await m.query("begin");
      await m.query("select baton_private.assign_tasks($1::uuid[], $2)", [otherIds, i % 2 === 0]);
      await m.query("commit");
    }));
    assert.equal(await live(c, "directive_id", other.d.id), 5);
    assert.equal(await live(c, "directive_id", d.id), 3);
  }));

  it("an owner's max_parallel is never exceeded by assigners of two of its directives racing", () => withClients(async (client) => {
    const c = await client();
    const x = await setup(c, steps(10, "x"));
    const y = await setup(c, steps(10, "y"), { owner: x.owner });
    await c.query("select baton.set_owner_max_parallel(4, $1)", [x.owner]);
    const xs = (await startAll(c, x.d.id, Object.values(x.s).map((v) => v.id))).map((t) => t.task_id);
    const ys = (await startAll(c, y.d.id, Object.values(y.s).map((v) => v.id))).map((t) => t.task_id);
    for (let i = 0; i < 3; i++) await createDaemon(c, x.owner, { name: `d${i}`, maxTasks: 4 });
    const [a, b] = [await client(), await client()];
    await a.query("begin");
    await b.query("begin");
    const ra = await q<{ n: number }>(a, "select baton_private.assign_tasks($1::uuid[], false) as n", [xs]);
    const rb = q<{ n: number }>(b, "select baton_private.assign_tasks($1::uuid[], false) as n", [ys]);
    await a.query("commit");
    assert.equal(ra.n + (await rb).n, 4);
    await b.query("commit");
    assert.equal(await live(c, "owner_id", x.owner), 4);
  }));
});

describe("fairness", () => {
  it("deals free slots one per directive per round, a directive with nothing running first, priority breaking ties", () =>
    withRootDb(db, async (c) => {
      const a = await setup(c, steps(3, "a"));
      const b = await setup(c, steps(3, "b"), { owner: a.owner });
      const p = await setup(c, steps(3, "p"), { owner: a.owner });
      await c.query("select baton.set_directive_priority($1, 5)", [p.d.id]);
      for (const x of [a, b, p]) await startAll(c, x.d.id, Object.values(x.s).map((v) => v.id));
      const order = (await c.query<{ name: string }>(
        `select s.name from baton_private.tasks_in_turn($1, null, 7) c join baton.tasks t on t.id = c.task_id
           join baton.directive_steps s on s.id = t.step_id order by c.k`, [a.owner])).rows.map((r) => r.name);
      // One task of each directive per round; p (priority 5) first in each; a and b (equal: nothing
      // running, priority 0, tasks as old) in either order. Within a directive, oldest first.
      const rounds = [order.slice(0, 3), order.slice(3, 6), order.slice(6)].map((r) => r.map((n) => n[0]));
      assert.deepEqual(rounds.map((r) => r[0]), ["p", "p", "p"], JSON.stringify(order));
      assert.deepEqual(rounds.map((r) => [...r].sort().join("")), ["abp", "abp", "p"], JSON.stringify(order));
    }));

  it("gives the slot a fan-out frees to the other directive waiting, not to the fan-out's older tasks", () =>
    withRootDb(db, async (c) => {
      const fan = await setup(c, steps(6, "f"));
      const other = await setup(c, steps(3, "c"), { owner: fan.owner });
      await createDaemon(c, fan.owner, { maxTasks: 2 });
      await startAll(c, fan.d.id, Object.values(fan.s).map((v) => v.id));
      await startAll(c, other.d.id, Object.values(other.s).map((v) => v.id));
      const liveNames = async () =>
        (await c.query<{ name: string }>(
          `select s.name from baton.tasks t join baton.directive_steps s on s.id = t.step_id
            where t.owner_id = $1 and t.status in ('starting', 'running')`,
          [fan.owner],
        )).rows.map((r) => r.name);
      const served: string[] = [];
      for (let i = 0; i < 4; i++) {
        const before = await liveNames();
        await finishOne(c, i % 2 === 0 ? fan.d.id : other.d.id);
        const added = (await liveNames()).filter((n) => !before.includes(n));
        assert.equal(added.length, 1, `one task took the freed slot (${JSON.stringify(added)})`);
        served.push(added[0]!);
      }
      // Two fan-out tasks ran first. Finishing one of f, c, f, c in turn, each freed slot goes to the
      // directive with nothing running: c (f still runs one), c again (the c that finished was its
      // only one), f (its last finished), c. The fan-out's four older tasks never jump the queue.
      assert.deepEqual(served.map((n) => n[0]), ["c", "c", "f", "c"]);
    }));
});

describe("the refill's reads", () => {
  it("with nothing waiting, a freed slot reads one entry of the owner's pending tasks, however many directives are active", () =>
    withRootDb(db, async (c) => {
      const first = await setup(c, steps(2, "a"));
      for (let i = 0; i < 30; i++) await setup(c, steps(2, `d${i}`), { owner: first.owner });
      const daemon = await createDaemon(c, first.owner, { maxTasks: 1 });
      await c.query("analyze baton.tasks"); // (other tests of this file committed pending tasks of other owners)
      await c.query("set local enable_seqscan = off"); // as in hot_path_scans: a scan of tasks then only happens when no index serves it
      const read = async () =>
        q<{ seq: string; tup: string; idx: string }>(c, "select seq_scan::text as seq, idx_tup_fetch::text as tup, idx_scan::text as idx from pg_stat_xact_user_tables where schemaname = 'baton' and relname = 'tasks'");
      const before = await read();
      assert.equal((await q<{ n: number }>(c, "select baton_private.refill_daemon($1, $2, 1) as n", [daemon, first.owner])).n, 0);
      const after = await read();
      assert.deepEqual([Number(after.seq) - Number(before.seq), Number(after.idx) - Number(before.idx), Number(after.tup) - Number(before.tup)], [0, 1, 0]);
    }));
});

describe("routing", () => {
  it("sends a step that names an agent only to a daemon with that label; a step naming none goes anywhere", () =>
    withRootDb(db, async (c) => {
      const { owner, d } = await setup(c, []);
      const plain = await createDaemon(c, owner, { name: "plain", maxTasks: 5 });
      const gpu = await createDaemon(c, owner, { name: "gpu", maxTasks: 5 });
      await c.query("select baton.set_daemon_labels($1, array['codex', 'gpu', 'codex'])", [gpu]);
      assert.deepEqual((await q<{ labels: string[] }>(c, "select labels from baton.daemons where id = $1", [gpu])).labels, ["codex", "gpu"]);
      // Load gpu so that plain is the least loaded: the codex step still goes to gpu.
      const added = await c.query<{ id: string; name: string; agent: string | null }>("select id, name, agent from baton.batch_add_steps($1, $2)", [
        d.id,
        JSON.stringify([{ name: "any" }, { name: "codex", agent: "codex" }, { name: "claude", agent: "claude" }]),
      ]);
      assert.deepEqual(added.rows.map((r) => r.agent), [null, "codex", "claude"]);
      const byName = Object.fromEntries(added.rows.map((r) => [r.name, r.id]));
      const single = await q<{ id: string; agent: string }>(c, "select id, agent from baton.add_step($1, 'one', agent => 'gpu')", [d.id]);
      assert.equal(single.agent, "gpu");
      const tasks = await startAll(c, d.id, [byName.codex!, byName.claude!, byName.any!, single.id]);
      const daemonOf = Object.fromEntries(await Promise.all(tasks.map(async (t) => [
        (await q<{ name: string }>(c, "select s.name from baton.tasks t join baton.directive_steps s on s.id = t.step_id where t.id = $1", [t.task_id])).name,
        t.daemon_id,
      ])));
      assert.equal(daemonOf.codex, gpu);
      assert.equal(daemonOf.one, gpu);
      assert.equal(daemonOf.claude, null, "no daemon has the label claude: the task waits");
      assert.ok(daemonOf.any === plain || daemonOf.any === gpu);

      const waits = await c.query("select step_name, step_status, waits_for_step_id, reason from baton.step_waits where directive_id = $1", [d.id]);
      assert.deepEqual(waits.rows, [{ step_name: "claude", step_status: "ready", waits_for_step_id: null, reason: "no connected daemon has label claude" }]);

      // A daemon that starts offering claude takes it.
      await c.query("select baton.set_daemon_labels($1, array['claude'])", [plain]);
      const claudeTask = tasks.find((t) => t.daemon_id === null)!.task_id;
      const assigned = await q<{ status: string; daemon_id: string }>(c, "select status, daemon_id from baton.assign_task($1)", [claudeTask]);
      assert.deepEqual(assigned, { status: "starting", daemon_id: plain });
      assert.equal((await c.query("select 1 from baton.step_waits where directive_id = $1", [d.id])).rowCount, 0);
    }));

  it("step_waits says a ready step waits for its directive's or its owner's max_parallel, and names dependencies", () =>
    withRootDb(db, async (c) => {
      const { owner, d, s } = await setup(c, [{ key: "a", name: "a" }, { key: "b", name: "b" }, { key: "c", name: "c", dependsOn: ["a"] }]);
      await createDaemon(c, owner, { maxTasks: 5 });
      await c.query("select baton.set_directive_max_parallel($1, 1)", [d.id]);
      await startAll(c, d.id, [s.a!.id]);
      await startAll(c, d.id, [s.b!.id]);
      const rows = async () => (await c.query("select step_name, reason from baton.step_waits where directive_id = $1 order by step_name", [d.id])).rows;
      assert.deepEqual(await rows(), [
        { step_name: "b", reason: "its directive runs 1 tasks, its max_parallel" },
        { step_name: "c", reason: "waits for step a (running)" },
      ]);
      await c.query("select baton.set_directive_max_parallel($1, null)", [d.id]);
      await c.query("select baton.set_owner_max_parallel(1, $1)", [owner]);
      assert.deepEqual((await rows())[0], { step_name: "b", reason: "its owner runs 1 tasks, the owner's max_parallel" });
    }));
});

describe("bad input", () => {
  it("refuses a max_parallel below 1, a priority out of range and invalid labels, with what to do", () =>
    withRootDb(db, async (c) => {
      const { owner, d } = await setup(c, []);
      const daemon = await createDaemon(c, owner);
      const refused = (sql: string, params: unknown[], message: string) => assertDbError(inSavepoint(c, () => c.query(sql, params)), "BTINV", message);
      await refused("select baton.set_directive_max_parallel($1, 0)", [d.id], "max_parallel must be a whole number from 1 to 10000 (got 0).");
      await refused("select baton.set_directive_max_parallel($1, -3)", [d.id], "max_parallel must be a whole number from 1 to 10000 (got -3).");
      await refused("select baton.set_owner_max_parallel(0, $1)", [owner], "max_parallel must be a whole number from 1 to 100000 (got 0).");
      await refused("select baton.set_directive_priority($1, 1001)", [d.id], "priority must be a whole number from -1000 to 1000 (got 1001).");
      await refused("select baton.set_daemon_labels($1, array[''])", [daemon],
        'The label "" is not valid: a label is 1 to 64 characters (letters, digits, ".", "_", "-" or ":") starting with a letter or digit.');
      await refused("select baton.set_daemon_labels($1, array['gpu', 'has space'])", [daemon],
        'The label "has space" is not valid: a label is 1 to 64 characters (letters, digits, ".", "_", "-" or ":") starting with a letter or digit.');
      await refused("select * from baton.batch_add_steps($1, $2)", [d.id, JSON.stringify([{ name: "x" }, { name: "y", agent: "" }])],
        'Entry 2 has an invalid "agent": it must be a label of 1 to 64 characters (letters, digits, ".", "_", "-" or ":"), e.g. "claude".');
      await refused("select * from baton.add_step($1, 'x', agent => '')", [d.id],
        'The agent "" is not valid: a label is 1 to 64 characters (letters, digits, ".", "_", "-" or ":") starting with a letter or digit.');
      assert.deepEqual(await q(c, "select max_parallel, priority from baton.directives where id = $1", [d.id]), { max_parallel: null, priority: 0 });
    }));
});
