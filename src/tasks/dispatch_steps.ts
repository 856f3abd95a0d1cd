/*
 * dispatch_steps: the next attempt of a batch of ready steps of one directive. The job's payload is
 * an array of {step_id, attempt}: every step the directive made ready since the job was queued
 * (graphile-worker appends the arrays of jobs queued under one key, `dispatch_steps:<directive>`).
 *
 * Per chunk of BATCH steps: ONE query reads every prompt input (step, directive, dependencies'
 * branches and commits, the previous attempt's error), the prompts are built here, and ONE call of
 * start_execution_tasks creates the tasks and assigns them to daemons in one transaction. Stale
 * entries (a step no longer ready, an attempt already made) are skipped by the read and again by the
 * SQL function, so a duplicate or late job does nothing.
 */
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
  check_command: string | null;
  dependencies: DependencyOutput[];
};

export const StepAttempt = z.object({ step_id: z.uuid(), attempt: z.number().int().min(1) });
export type StepAttempt = z.infer<typeof StepAttempt>;

/** One round trip for everything the prompts of these steps need; only steps still dispatchable. */
const READ_STEPS = `
  select s.id, s.directive_id, s.name, s.description, s.task_plan, s.attempts, s.max_attempts,
         d.title, d.goal, d.repo,
         case when prev.status in ('failed', 'interrupted') then coalesce(prev.error, '(no error was recorded)') end as previous_error,
         coalesce(s.check_command, d.check_command) as check_command,
         coalesce((select json_agg(json_build_object('id', p.id, 'name', p.name, 'status', p.status, 'branch', t.branch, 'commitSha', t.commit_sha)
                                   order by p.order_index, p.created_at, p.id)
                     from baton.step_dependencies sd
                     join baton.directive_steps p on p.id = sd.depends_on_step_id
                     left join baton.tasks t on t.id = p.current_task_id
                    where sd.step_id = s.id), '[]') as dependencies
    from unnest($1::uuid[], $2::int[]) w(step_id, attempt)
    join baton.directive_steps s on s.id = w.step_id
    join baton.directives d on d.id = s.directive_id
    left join baton.tasks prev on prev.id = s.current_task_id
   where s.status = 'ready' and d.status = 'active' and s.total_attempts < w.attempt`;

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

/** Starts the next attempt of these steps, BATCH at a time; returns how many tasks were created. */
export async function dispatchSteps(items: StepAttempt[], { withClient, logger }: Pick<TaskContext, "withClient" | "logger">): Promise<number> {
  const wanted = latestAttempts(items);
  let created = 0;
  for (let i = 0; i < wanted.length; i += BATCH) {
    const chunk = wanted.slice(i, i + BATCH);
    created += await withClient(async (c) => {
      const rows = (await c.query<StepRow>(READ_STEPS, [chunk.map((w) => w.step_id), chunk.map((w) => w.attempt)])).rows;
      const byDirective = new Map<string, { step_id: string; attempt: number; prompt: string }[]>();
      const attemptOf = new Map(chunk.map((w) => [w.step_id, w.attempt]));
      for (const s of rows) {
        const list = byDirective.get(s.directive_id) ?? [];
        list.push({ step_id: s.id, attempt: attemptOf.get(s.id)!, prompt: promptFor(s) });
        byDirective.set(s.directive_id, list);
      }
      let n = 0;
      for (const [directiveId, steps] of [...byDirective].sort(([a], [b]) => (a < b ? -1 : 1))) {
        try {
          const r = await c.query<{ step_id: string; task_id: string; daemon_id: string | null }>(
            "select step_id, task_id, daemon_id from baton_private.start_execution_tasks($1, $2::jsonb)",
            [directiveId, JSON.stringify(steps)],
          );
          n += r.rowCount ?? 0;
          const assigned = r.rows.filter((t) => t.daemon_id !== null).length;
          if (r.rowCount) logger.info("execution tasks created", { directive_id: directiveId, created: r.rowCount, assigned });
        } catch (err) {
          // The directive went away (archived and deleted) since the read: nothing to dispatch.
          if (isDbError(err, "BTNFD")) logger.debug("the directive no longer exists", { directive_id: directiveId });
          else throw err;
        }
      }
      return n;
    });
  }
  return created;
}

export const dispatchStepsTask = defineTask(z.array(StepAttempt), async (items, ctx) => {
  await dispatchSteps(items, ctx);
});
