/*
 * Shortcuts for orchestrator tests, which commit (workers, NOTIFY) and so use the file's pool rather
 * than a rolled-back transaction. Everything goes through the public SQL functions.
 */
import type { TestDb } from "./db";
import type { StepSpec } from "./fixtures";

export type TaskRow = {
  id: string;
  kind: "planning" | "execution";
  status: string;
  step_id: string | null;
  daemon_id: string | null;
  attempt: number | null;
  generation: number | null;
  version: number;
  error: string | null;
  prompt: string | null;
};

export async function createOwner(db: TestDb, name = "alice"): Promise<string> {
  return (await db.pool.query<{ id: string }>("select id from baton.create_owner($1)", [name])).rows[0]!.id;
}

/**
 * A directive. With `steps`, they are added while it is a draft and count as its plan, so starting it
 * dispatches them without a planning task.
 */
export async function createDirective(
  db: TestDb,
  ownerId: string,
  opts: { title?: string; goal?: string; repo?: string; steps?: StepSpec[]; start?: boolean } = {},
): Promise<{ id: string; steps: Record<string, string> }> {
  const d = await db.pool.query<{ id: string }>("select id from baton.create_directive(title => $1, goal => $2, repo => $3, owner_id => $4)", [
    opts.title ?? "Demo",
    opts.goal ?? "Build the demo",
    opts.repo ?? null,
    ownerId,
  ]);
  const id = d.rows[0]!.id;
  const steps: Record<string, string> = {};
  if (opts.steps && opts.steps.length > 0) {
    const r = await db.pool.query<{ id: string; name: string }>("select id, name from baton.batch_add_steps($1, $2)", [id, JSON.stringify(opts.steps)]);
    for (const s of r.rows) steps[s.name] = s.id;
  }
  if (opts.start ?? true) await db.pool.query("select baton.start_directive($1)", [id]);
  return { id, steps };
}

/** Independent steps named s1..sN. */
export function independentSteps(n: number): StepSpec[] {
  return Array.from({ length: n }, (_, i) => ({ name: `s${i + 1}` }));
}

export async function directiveStatus(db: TestDb, id: string): Promise<string> {
  return (await db.pool.query<{ status: string }>("select status from baton.directives where id = $1", [id])).rows[0]!.status;
}

export async function stepStatus(db: TestDb, id: string): Promise<string> {
  return (await db.pool.query<{ status: string }>("select status from baton.directive_steps where id = $1", [id])).rows[0]!.status;
}

/** Tasks of a directive (or of one step), oldest first. */
export async function tasksOf(db: TestDb, where: { directiveId?: string; stepId?: string }): Promise<TaskRow[]> {
  const r = await db.pool.query<TaskRow>(
    `select id, kind, status, step_id, daemon_id, attempt, generation, version, error, prompt from baton.tasks
      where ($1::uuid is null or directive_id = $1) and ($2::uuid is null or step_id = $2)
      order by created_at, id`,
    [where.directiveId ?? null, where.stepId ?? null],
  );
  return r.rows;
}

/** Live (starting or running) tasks per daemon. */
export async function liveTasksPerDaemon(db: TestDb): Promise<Record<string, number>> {
  const r = await db.pool.query<{ daemon_id: string; n: number }>(
    "select daemon_id, count(*)::int as n from baton.tasks where status in ('starting', 'running') group by daemon_id",
  );
  return Object.fromEntries(r.rows.map((x) => [x.daemon_id, x.n]));
}

/** Sets the heartbeat lease (baton_private.settings), as `baton server` does from BATON_DAEMON_LEASE_SECONDS. */
export async function setDaemonLease(db: TestDb, seconds: number): Promise<void> {
  await db.pool.query("update baton_private.settings set daemon_lease = make_interval(secs => $1)", [seconds]);
}

/** The status changes recorded for one task, as "from->to". */
export async function taskTransitions(db: TestDb, taskId: string): Promise<string[]> {
  const r = await db.pool.query<{ t: string }>(
    "select coalesce(from_status, '') || '->' || to_status as t from baton.events where subject_id = $1 and subject_type = 'task' order by id",
    [taskId],
  );
  return r.rows.map((x) => x.t);
}
