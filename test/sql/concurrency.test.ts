/*
 * Races, with real connections and real commits: the two parents of a join completed at the same
 * moment in two open transactions must make the join ready exactly once, enqueue exactly one
 * dispatch for it, and never deadlock. Every change locks the directive row first (000007's lock
 * order), so the second transaction waits for the first and then sees its counter.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ClientBase, PoolClient } from "pg";
import { useTestDatabase } from "../helpers/db";
import { createOwner } from "../helpers/fixtures";

const db = useTestDatabase();
const ITERATIONS = 200;

/**
 * Sends one statement on each connection inside open transactions, at the same moment; one of them
 * waits on the other's lock. Commits whichever finishes first, together with the other's completion.
 * Returns which one won the lock.
 */
async function race(c1: PoolClient, sql1: [string, unknown[]], c2: PoolClient, sql2: [string, unknown[]]): Promise<1 | 2> {
  await Promise.all([c1.query("begin"), c2.query("begin")]);
  const p1 = c1.query(...sql1).then(() => 1 as const);
  const p2 = c2.query(...sql2).then(() => 2 as const);
  try {
    const first = await Promise.race([p1, p2]);
    const [winner, loser, pending] = first === 1 ? [c1, c2, p2] : [c2, c1, p1];
    await Promise.all([winner.query("commit"), pending.then(() => loser.query("commit"))]);
    return first;
  } catch (err) {
    await Promise.allSettled([p1, p2]);
    await Promise.all([c1.query("rollback"), c2.query("rollback")]);
    throw err;
  }
}

type Join = { directive: string; b: string; c: string; j: string };

/**
 * `n` started directives (committed), each with roots b and c and the join j on both. Made up front
 * in three statements so the loop below spends its time racing, not setting up.
 */
async function joinDirectives(c: ClientBase, owner: string, n: number): Promise<Join[]> {
  const ids = (
    await c.query<{ id: string }>(
      "select d.id from generate_series(1, $1) i, lateral baton.create_directive(title => 'race ' || i, goal => 'race', owner_id => $2) d order by i",
      [n, owner],
    )
  ).rows.map((r) => r.id);
  const steps = await c.query<{ directive_id: string; name: string; id: string }>(
    `select s.directive_id, s.name, s.id
       from unnest($1::uuid[]) d(id),
            lateral baton.batch_add_steps(d.id, '[{"key": "b", "name": "b"}, {"key": "c", "name": "c"}, {"name": "j", "dependsOn": ["b", "c"]}]') s`,
    [ids],
  );
  await c.query("select baton.start_directive(id) from unnest($1::uuid[]) id", [ids]);
  const by = new Map(ids.map((id) => [id, { directive: id } as Join]));
  for (const r of steps.rows) (by.get(r.directive_id) as Record<string, string>)[r.name] = r.id;
  return ids.map((id) => by.get(id)!);
}

describe("two parents of a join completing at once", () => {
  let owner: string;
  let c1: PoolClient;
  let c2: PoolClient;

  before(async () => {
    owner = await createOwner(db.pool as unknown as ClientBase, "racer");
    [c1, c2] = await Promise.all([db.pool.connect(), db.pool.connect()]);
  });
  after(() => {
    c1?.release();
    c2?.release();
  });

  it(`make the join ready exactly once with one dispatch job, without deadlock (${ITERATIONS} times)`, async () => {
    const joins = await joinDirectives(c1, owner, ITERATIONS);
    // Odd iterations complete the parents through the daemons' reports on their tasks (pending ->
    // completed), which reach the step through the task trigger; even ones through complete_step.
    const tasks = new Map(
      (
        await c1.query<{ step_id: string; id: string }>(
          "select t.step_id, t.id from unnest($1::uuid[]) s(id), lateral baton.create_execution_task(s.id) t",
          [joins.filter((_, i) => i % 2 === 1).flatMap((x) => [x.b, x.c])],
        )
      ).rows.map((r) => [r.step_id, r.id]),
    );
    const wins = { 1: 0, 2: 0 };
    for (const [i, x] of joins.entries()) {
      const sql1: [string, unknown[]] = i % 2 === 0 ? ["select baton.complete_step($1)", [x.b]] : ["select baton.report_task_status($1, 'completed')", [tasks.get(x.b)]];
      const sql2: [string, unknown[]] = i % 2 === 0 ? ["select baton.complete_step($1)", [x.c]] : ["select baton.report_task_status($1, 'completed')", [tasks.get(x.c)]];
      // Alternate which connection sends first; count which parent's transaction got the lock first.
      const firstSent = i % 4 < 2;
      const won = firstSent ? await race(c1, sql1, c2, sql2) : await race(c2, sql2, c1, sql1);
      wins[firstSent ? won : won === 1 ? 2 : 1]++;
    }

    const r = await c1.query(
      `select x.i, s.status, s.remaining_deps, d.open_steps, d.status as directive_status,
              (select count(*)::int from graphile_worker.jobs j where j.key = 'dispatch_steps:' || s.directive_id) as keyed_jobs,
              (select count(*)::int from graphile_worker._private_jobs j
                where j.payload ->> 'directive_id' = s.directive_id::text) as step_jobs,
              (select count(*)::int from baton.events e where e.subject_id = s.id and e.to_status = 'ready') as ready_events
         from unnest($1::uuid[]) with ordinality x(id, i)
         join baton.directive_steps s on s.id = x.id join baton.directives d on d.id = s.directive_id
        order by x.i`,
      [joins.map((x) => x.j)],
    );
    assert.equal(r.rows.length, ITERATIONS);
    const expected = { status: "ready", remaining_deps: 0, open_steps: 1, directive_status: "active", keyed_jobs: 1, step_jobs: 1, ready_events: 1 };
    for (const { i, ...row } of r.rows) assert.deepEqual(row, expected, `iteration ${i}`);
    assert.ok(wins[1] > 0 && wins[2] > 0, `both parents were completed first some of the time (${JSON.stringify(wins)})`);
  });

  it("create one task when two dispatchers create the same step's attempt at once (50 times)", async () => {
    for (const [i, x] of (await joinDirectives(c1, owner, 50)).entries()) {
      await race(c1, ["select baton.create_execution_task($1, attempt => 1)", [x.b]], c2, ["select baton.create_execution_task($1)", [x.b]]);
      const r = (await c1.query("select count(*)::int as n, max(attempt) as attempt from baton.tasks where step_id = $1", [x.b])).rows[0];
      assert.deepEqual(r, { n: 1, attempt: 1 }, `iteration ${i}`);
    }
  });
});
