/*
 * Shared setup for the state-machine tests in test/sql: a started directive with a DAG, tasks brought
 * to a given status, and snapshots of what a rejected call must not have written. Not a test file
 * itself (no `.test.ts`), so the runner does not pick it up.
 */
import assert from "node:assert/strict";
import type { ClientBase, PoolClient } from "pg";
import { addSteps, createDirective, createOwner, createTask, type Directive, type Step, type StepSpec, type Task } from "../helpers/fixtures";

export type Setup = { owner: string; d: Directive; s: Record<string, Step> };

/** An owner, a directive with the given steps, started unless `start: false`. */
export async function setup(c: ClientBase, steps: StepSpec[], opts: { start?: boolean; owner?: string; goal?: string } = {}): Promise<Setup> {
  const owner = opts.owner ?? (await createOwner(c));
  const d = await createDirective(c, owner, { goal: opts.goal });
  const s = steps.length > 0 ? await addSteps(c, d.id, steps) : {};
  if (opts.start ?? true) await c.query("select baton.start_directive($1)", [d.id]);
  return { owner, d, s };
}

/** A chain of steps named by `names`, each depending on the one before. */
export function chain(...names: string[]): StepSpec[] {
  return names.map((name, i) => ({ key: name, name, dependsOn: i === 0 ? [] : [names[i - 1]!] }));
}

/** A connected daemon of the owner (register_daemon), by default with room for 10 tasks. */
export async function createDaemon(c: ClientBase, ownerId: string, opts: { name?: string; maxTasks?: number } = {}): Promise<string> {
  const r = await c.query<{ id: string }>("select id from baton.register_daemon(name => $1, max_tasks => $2, owner_id => $3)", [
    opts.name ?? "laptop",
    opts.maxTasks ?? 10,
    ownerId,
  ]);
  return r.rows[0]!.id;
}

/**
 * Creates the step's next task and reports it running. The task goes to a connected daemon of the
 * owner (one is registered if the owner has none), as the dispatcher would do it.
 */
export async function startStep(c: ClientBase, stepId: string): Promise<Task> {
  const { owner_id: ownerId } = await q<{ owner_id: string }>(c, "select owner_id from baton.directive_steps where id = $1", [stepId]);
  const { n } = await q<{ n: number }>(c, "select count(*)::int as n from baton.daemons where owner_id = $1 and status = 'connected'", [ownerId]);
  if (n === 0) await createDaemon(c, ownerId);
  let t = await createTask(c, stepId);
  if (t.status === "pending") t = await q<Task>(c, "select * from baton.assign_task($1)", [t.id]);
  assert.equal(t.status, "starting", "the task should have gone to a daemon");
  return q<Task>(c, "select * from baton.report_task_status($1, 'running')", [t.id]);
}

export async function task(c: ClientBase, id: string): Promise<Task & { error: string | null; finished_at: Date | null }> {
  return (await c.query("select * from baton.tasks where id = $1", [id])).rows[0];
}

/** Number of graphile-worker jobs, optionally of one task identifier and/or one key. */
/*
 * Queued jobs, as the tests speak of them: one per step attempt (`dispatch_step`, key
 * dispatch_step:<step>:<attempt>) and one per waiting task (`dispatch_task`, key dispatch_task:<task>).
 * Since batched dispatch (sql/000016) a step's dispatch is its directive's `dispatch_steps` job
 * (key dispatch_steps:<directive>, payload {directive_id}), which starts the next attempt of every
 * step of an active directive that is ready without a live task: those are the step attempts listed
 * here (the `dispatch_steps` jobs themselves are listed too). A waiting task is an entry of the
 * `dispatch_task` job of its directive (array payload of task ids, de-duplicated here as by the job).
 * Other identifiers are jobs as graphile-worker has them.
 */
const QUEUED = `
  select distinct on (s.id) 'dispatch_step' as task_identifier, 'dispatch_step:' || s.id || ':' || (s.total_attempts + 1) as key,
         json_build_object('step_id', s.id, 'attempt', s.total_attempts + 1) as payload, j.id
    from graphile_worker.jobs j join graphile_worker._private_jobs p on p.id = j.id
    join baton.directive_steps s on json_typeof(p.payload) = 'object' and s.directive_id = (p.payload ->> 'directive_id')::uuid
    join baton.directives d on d.id = s.directive_id and d.status = 'active'
   where j.task_identifier = 'dispatch_steps' and s.status = 'ready'
     and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.kind = 'execution' and t.status in ('pending', 'starting', 'running', 'checking'))
  union all
  select 'dispatch_task', 'dispatch_task:' || (e #>> '{}'), json_build_object('task_id', e #>> '{}'), min(j.id)
    from graphile_worker.jobs j join graphile_worker._private_jobs p on p.id = j.id
    cross join lateral json_array_elements(case when json_typeof(p.payload) = 'array' then p.payload else '[]' end) e
   where j.task_identifier = 'dispatch_task'
   group by 2, e #>> '{}'
  union all
  select j.task_identifier, j.key, p.payload, j.id
    from graphile_worker.jobs j join graphile_worker._private_jobs p on p.id = j.id
   where j.task_identifier <> 'dispatch_task'`;

export async function jobCount(c: ClientBase, identifier?: string, key?: string): Promise<number> {
  const r = await c.query<{ n: number }>(
    `select count(*)::int as n from (${QUEUED}) q where ($1::text is null or task_identifier = $1) and ($2::text is null or key = $2)`,
    [identifier ?? null, key ?? null],
  );
  return r.rows[0]!.n;
}

/**
 * Jobs with their payloads (as jobCount counts them). graphile_worker.jobs (the view) leaves the
 * payload out, so this joins the view to the table behind it.
 */
export async function jobsWithPayload(c: ClientBase, identifier?: string): Promise<{ task_identifier: string; key: string | null; payload: Record<string, unknown> }[]> {
  const r = await c.query(`select task_identifier, key, payload from (${QUEUED}) q where ($1::text is null or task_identifier = $1) order by id, key`, [
    identifier ?? null,
  ]);
  return r.rows;
}

/** Row counts of everything a DAG change writes, to prove a rejected call wrote nothing. */
export async function dagCounts(c: ClientBase): Promise<Record<string, number>> {
  const r = await c.query(`select (select count(*) from baton.directive_steps)::int as steps,
                                  (select count(*) from baton.step_dependencies)::int as dependencies,
                                  (select count(*) from baton.events)::int as events,
                                  (select count(*) from baton.tasks)::int as tasks,
                                  (select count(*) from graphile_worker.jobs)::int as jobs`);
  return r.rows[0];
}

/**
 * Runs a call inside a savepoint (so the test's transaction survives its error) and checks that the
 * call wrote nothing; then passes its outcome on. Use as `assertDbError(writesNothing(c, () => ...), code, message)`.
 */
export async function writesNothing(c: PoolClient, call: () => Promise<unknown>): Promise<unknown> {
  const before = await dagCounts(c);
  try {
    return await inSavepointNamed(c, call);
  } catch (err) {
    assert.deepEqual(await dagCounts(c), before, "a rejected call must write nothing");
    throw err;
  }
}

/** Like helpers' inSavepoint, under its own name so it nests with the caller's savepoints. */
async function inSavepointNamed<T>(c: PoolClient, fn: () => Promise<T>): Promise<T> {
  await c.query("savepoint reject_check");
  try {
    const result = await fn();
    await c.query("release savepoint reject_check");
    return result;
  } catch (err) {
    await c.query("rollback to savepoint reject_check");
    throw err;
  }
}

/** Runs fn and rolls back what it did, so one test can try several transitions from the same state. */
export async function andUndo<T>(c: PoolClient, fn: () => Promise<T>): Promise<T> {
  await c.query("savepoint undo");
  try {
    return await fn();
  } finally {
    await c.query("rollback to savepoint undo");
  }
}

/** Events of one subject, oldest first. */
export async function eventsOf(c: ClientBase, subjectId: string): Promise<{ kind: string; from_status: string | null; to_status: string | null; detail: Record<string, unknown> | null }[]> {
  return (await c.query("select kind, from_status, to_status, detail from baton.events where subject_id = $1 order by id", [subjectId])).rows;
}

export async function q<T = Record<string, unknown>>(c: ClientBase, sql: string, params: unknown[] = []): Promise<T> {
  return (await c.query(sql, params)).rows[0] as T;
}

/** Every (from, to) pair of distinct statuses, each marked legal or not by the table a test declares. */
export function transitionMatrix<S extends string>(all: readonly S[], legal: Record<S, readonly S[]>): { from: S; to: S; legal: boolean }[] {
  return all.flatMap((from) => all.filter((to) => to !== from).map((to) => ({ from, to, legal: legal[from].includes(to) })));
}

/** "a", "a or b", "a, b or c": how the guards' messages list states. */
export function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

export type Token = { role: "baton_user" | "baton_daemon" | "baton_agent"; owner: string; daemon?: string; directive?: string; task?: string };

/** Runs fn with a token's settings (transaction-local, as PostGraphile sets them), then back to root. */
export async function as<T>(c: PoolClient, t: Token, fn: () => Promise<T>): Promise<T> {
  await c.query(
    `select set_config('baton.owner_id', $1, true), set_config('baton.daemon_id', coalesce($2, ''), true), set_config('baton.directive_id', coalesce($3, ''), true),
            set_config('baton.task_id', coalesce($4, ''), true), set_config('baton.token_gen', '0', true), set_config('role', $5, true)`,
    [t.owner, t.daemon ?? null, t.directive ?? null, t.task ?? null, t.role],
  );
  try {
    return await fn();
  } finally {
    await c.query("reset role");
    await c.query("select set_config('baton.owner_id', '', true), set_config('baton.daemon_id', '', true), set_config('baton.task_id', '', true), set_config('baton.directive_id', '', true)");
  }
}
