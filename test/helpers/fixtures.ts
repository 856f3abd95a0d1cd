/*
 * Fixtures that go through the public SQL functions, as users do, never raw inserts.
 */
import type { ClientBase } from "pg";

export type Step = { id: string; name: string; status: string; remaining_deps: number; attempts: number; generation: number };
export type Task = { id: string; status: string; version: number; attempt: number | null; kind: string; daemon_id: string | null };
export type Directive = { id: string; status: string; owner_id: string; goal_revision: number; planned_revision: number | null; open_steps: number; orchestrator_task_id: string | null; current_generation: number };

export async function createOwner(c: ClientBase, name = "alice"): Promise<string> {
  return (await c.query<{ id: string }>("select id from baton.create_owner($1)", [name])).rows[0]!.id;
}

export async function createDirective(c: ClientBase, ownerId: string, opts: { title?: string; goal?: string; start?: boolean } = {}): Promise<Directive> {
  const r = await c.query<Directive>(
    "select * from baton.create_directive(title => $1, goal => $2, start => $3, owner_id => $4)",
    [opts.title ?? "Demo", opts.goal ?? "Build the demo", opts.start ?? false, ownerId],
  );
  return r.rows[0]!;
}

export type StepSpec = { key?: string; name: string; dependsOn?: string[]; description?: string; taskPlan?: string; orderIndex?: number };

/** Adds a batch and returns the steps by name. */
export async function addSteps(c: ClientBase, directiveId: string, steps: StepSpec[]): Promise<Record<string, Step>> {
  const r = await c.query<Step>("select * from baton.batch_add_steps($1, $2)", [directiveId, JSON.stringify(steps)]);
  return Object.fromEntries(r.rows.map((s) => [s.name, s]));
}

/** A diamond a -> (b, c) -> d, keyed by name. */
export function diamond(): StepSpec[] {
  return [
    { key: "a", name: "a" },
    { key: "b", name: "b", dependsOn: ["a"] },
    { key: "c", name: "c", dependsOn: ["a"] },
    { key: "d", name: "d", dependsOn: ["b", "c"] },
  ];
}

export async function directive(c: ClientBase, id: string): Promise<Directive> {
  return (await c.query<Directive>("select * from baton.directives where id = $1", [id])).rows[0]!;
}

export async function step(c: ClientBase, id: string): Promise<Step> {
  return (await c.query<Step>("select * from baton.directive_steps where id = $1", [id])).rows[0]!;
}

/** Status of every step of a directive, by name. */
export async function statuses(c: ClientBase, directiveId: string): Promise<Record<string, string>> {
  const r = await c.query<{ name: string; status: string }>("select name, status from baton.directive_steps where directive_id = $1", [directiveId]);
  return Object.fromEntries(r.rows.map((s) => [s.name, s.status]));
}

export async function createTask(c: ClientBase, stepId: string): Promise<Task> {
  return (await c.query<Task>("select * from baton.create_execution_task($1, 'prompt')", [stepId])).rows[0]!;
}

export async function report(c: ClientBase, taskId: string, status: string, extra: { error?: string; expectedVersion?: number } = {}): Promise<Task> {
  const r = await c.query<Task>("select * from baton.report_task_status(task_id => $1, status => $2, error => $3, expected_version => $4)", [
    taskId,
    status,
    extra.error ?? null,
    extra.expectedVersion ?? null,
  ]);
  return r.rows[0]!;
}

/** Creates the step's next task and reports it with the given outcome. */
export async function runStep(c: ClientBase, stepId: string, outcome: "completed" | "failed" | "interrupted" = "completed"): Promise<Task> {
  const t = await createTask(c, stepId);
  return report(c, t.id, outcome, outcome === "completed" ? {} : { error: `agent ${outcome}` });
}

export async function jobs(c: ClientBase, identifier?: string): Promise<{ task_identifier: string; key: string | null; payload: Record<string, unknown> }[]> {
  // graphile_worker.jobs (the public view) has no payload column; it is read from the private table.
  const r = await c.query(
    `select j.task_identifier, j.key, p.payload from graphile_worker.jobs j join graphile_worker._private_jobs p on p.id = j.id
      where ($1::text is null or j.task_identifier = $1) order by j.id`,
    [identifier ?? null],
  );
  return r.rows;
}
