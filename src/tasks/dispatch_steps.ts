/*
 * dispatch_steps: the next attempt of every ready step of one directive. One job per directive
 * (payload {directive_id}, key dispatch_steps:<directive>): queueing it again while it waits replaces
 * it in place (graphile-worker's job keys), so a report that readies steps costs the same whatever
 * the backlog; queueing it while it runs adds one more run after it.
 *
 * Per BATCH steps: ONE query reads every prompt input (step, directive, dependencies' branches and
 * commits, the previous attempt's error) of the directive's ready steps without a live task, the
 * prompts are built here, and ONE call of start_execution_tasks creates the tasks and assigns them to
 * daemons in one transaction; then the next BATCH, until none is left. A step no longer dispatchable
 * is skipped by the read and again by the SQL function, so a duplicate or late job does nothing.
 *
 * (The first version appended {step_id, attempt} items to an array payload, graphile-worker's batched
 * jobs: while the job waited, every report rewrote the whole growing array, so a report's cost grew
 * with the directive's backlog: 9.8 ms against 3.8 ms in the size bench. Array payloads queued by it
 * are still accepted.)
 */
import type { PoolClient } from "pg";
import { z } from "zod";
import { buildExecutionPrompt, type DependencyOutput } from "../prompts/execution";
import { defineTask, isDbError, type TaskContext } from "./define";

/** Steps started per transaction: large enough that a 2,000-step fan-out takes 10, small enough to keep each short. */
export const BATCH = 200;
/** The prompt limit of tasks.prompt (prompt_is_valid). */
const PROMPT_LIMIT = 1_048_576;

type StepRow = {
  id: string;
  directive_id: string;
  name: string;
  description: string | null;
  task_plan: string | null;
  attempts: number;
  max_attempts: number;
  title: string;
  goal: string;
  repo: string | null;
  previous_error: string | null;
  next_attempt: number;
  check_command: string | null;
  dependencies: DependencyOutput[];
};

export const StepAttempt = z.object({ step_id: z.uuid(), attempt: z.number().int().min(1) });
export type StepAttempt = z.infer<typeof StepAttempt>;

/** Everything a step's prompt needs, in one round trip (the FROM and WHERE follow). */
const STEP_INPUTS = `
  select s.id, s.directive_id, s.name, s.description, s.task_plan, s.attempts, s.max_attempts, s.total_attempts + 1 as next_attempt,
         d.title, d.goal, d.repo,
         case when prev.status in ('failed', 'interrupted') then coalesce(prev.error, '(no error was recorded)') end as previous_error,
         coalesce(s.check_command, d.check_command) as check_command,
         coalesce((select json_agg(json_build_object('id', p.id, 'name', p.name, 'status', p.status, 'branch', t.branch, 'commitSha', t.commit_sha)
                                   order by p.order_index, p.created_at, p.id)
                     from baton.step_dependencies sd
                     join baton.directive_steps p on p.id = sd.depends_on_step_id
                     left join baton.tasks t on t.id = p.current_task_id
                    where sd.step_id = s.id), '[]') as dependencies`;

/** The given steps, if still dispatchable (jobs queued by an older Baton name their steps). */
const READ_STEPS = `${STEP_INPUTS}
    from unnest($1::uuid[], $2::int[]) w(step_id, attempt)
    join baton.directive_steps s on s.id = w.step_id
    join baton.directives d on d.id = s.directive_id
    left join baton.tasks prev on prev.id = s.current_task_id
   where s.status = 'ready' and d.status = 'active' and s.total_attempts < w.attempt`;

/** Up to $2 ready steps of an active directive without a live task, in dispatch order (directive_steps_ready_idx). */
const READ_DIRECTIVE = `${STEP_INPUTS}
    from baton.directive_steps s
    join baton.directives d on d.id = s.directive_id
    left join baton.tasks prev on prev.id = s.current_task_id
   where s.directive_id = $1 and s.status = 'ready' and d.status = 'active'
     and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.kind = 'execution' and baton_private.task_is_live(t.status))
   order by s.order_index, s.id
   limit $2`;

/** The latest attempt asked for each step (a key's payload can name a step twice). */
export function latestAttempts(items: StepAttempt[]): StepAttempt[] {
  const byStep = new Map<string, number>();
  for (const { step_id, attempt } of items) byStep.set(step_id, Math.max(attempt, byStep.get(step_id) ?? 0));
  return [...byStep].map(([step_id, attempt]) => ({ step_id, attempt }));
}

function promptFor(s: StepRow): string {
  const prompt = buildExecutionPrompt({
    directiveTitle: s.title,
    goal: s.goal,
    repo: s.repo,
    stepId: s.id,
    stepName: s.name,
    description: s.description,
    taskPlan: s.task_plan,
    dependencies: s.dependencies,
    attempt: s.attempts + 1,
    maxAttempts: s.max_attempts,
    // Also after retry-step (a new round, attempts back to 0): the agent should know what failed.
    previousError: s.previous_error,
    check: s.check_command,
  });
  // One oversized prompt must not fail the whole batch on the CHECK: cut it, and say so.
  if (Buffer.byteLength(prompt) <= PROMPT_LIMIT) return prompt;
  const note = "\n\n[The prompt was cut to Baton's 1 MB limit.]\n";
  return Buffer.from(prompt).subarray(0, PROMPT_LIMIT - Buffer.byteLength(note) - 4).toString("utf8").replace(/\uFFFD+$/, "") + note;
}

/** Builds the prompts of these steps of one directive and starts them in one call; returns how many tasks were created. */
async function startSteps(c: PoolClient, directiveId: string, rows: StepRow[], logger: TaskContext["logger"]): Promise<number> {
  if (rows.length === 0) return 0;
  const steps = rows.map((s) => ({ step_id: s.id, attempt: s.next_attempt, prompt: promptFor(s) }));
  try {
    const r = await c.query<{ step_id: string; task_id: string; daemon_id: string | null }>(
      "select step_id, task_id, daemon_id from baton_private.start_execution_tasks($1, $2::jsonb)",
      [directiveId, JSON.stringify(steps)],
    );
    const assigned = r.rows.filter((t) => t.daemon_id !== null).length;
    if (r.rowCount) logger.info("execution tasks created", { directive_id: directiveId, created: r.rowCount, assigned });
    return r.rowCount ?? 0;
  } catch (err) {
    // The directive went away (archived and deleted) since the read: nothing to dispatch.
    if (isDbError(err, "BTNFD")) {
      logger.debug("the directive no longer exists", { directive_id: directiveId });
      return 0;
    }
    throw err;
  }
}

/** Starts the next attempt of these steps, BATCH at a time; returns how many tasks were created. */
export async function dispatchSteps(items: StepAttempt[], { withClient, logger }: Pick<TaskContext, "withClient" | "logger">): Promise<number> {
  const wanted = latestAttempts(items);
  let created = 0;
  for (let i = 0; i < wanted.length; i += BATCH) {
    const chunk = wanted.slice(i, i + BATCH);
    created += await withClient(async (c) => {
      const rows = (await c.query<StepRow>(READ_STEPS, [chunk.map((w) => w.step_id), chunk.map((w) => w.attempt)])).rows;
      const byDirective = new Map<string, StepRow[]>();
      for (const s of rows) byDirective.set(s.directive_id, [...(byDirective.get(s.directive_id) ?? []), s]);
      let n = 0;
      for (const [directiveId, steps] of [...byDirective].sort(([a], [b]) => (a < b ? -1 : 1))) n += await startSteps(c, directiveId, steps, logger);
      return n;
    });
  }
  return created;
}

/** Starts BATCH ready steps of one directive per transaction until none is left; returns how many tasks were created. */
export async function dispatchDirective(directiveId: string, ctx: Pick<TaskContext, "withClient" | "logger">): Promise<number> {
  let created = 0;
  for (;;) {
    const { read, n } = await ctx.withClient(async (c) => {
      const rows = (await c.query<StepRow>(READ_DIRECTIVE, [directiveId, BATCH])).rows;
      return { read: rows.length, n: await startSteps(c, directiveId, rows, ctx.logger) };
    });
    created += n;
    // Fewer than a batch read: the directive is drained. None started: another dispatcher holds them.
    if (read < BATCH || n === 0) return created;
  }
}

/*
 * The payload: {directive_id} (what Baton queues: one job per directive, key
 * dispatch_steps:<directive>, replaced in place by later queueing, so queueing costs the same however
 * many steps wait), or an array of {step_id, attempt} (jobs queued by an older Baton).
 */
const Payload = z.union([z.object({ directive_id: z.uuid() }), z.array(StepAttempt)]);

export const dispatchStepsTask = defineTask(Payload, async (payload, ctx) => {
  if (Array.isArray(payload)) await dispatchSteps(payload, ctx);
  else await dispatchDirective(payload.directive_id, ctx);
});
