/*
 * dispatch_step: one attempt of a ready step. Builds the execution prompt from the step, its
 * directive, what its dependencies produced and, on a retry, the previous attempt's error; then
 * creates the task, which is assigned to a daemon in the same transaction when one has room.
 * Keyed by (step, attempt): a duplicate or stale job finds the attempt already made and returns.
 */
import { z } from "zod";
import { buildExecutionPrompt, type DependencyOutput } from "../prompts/execution";
import { defineTask, isDbError } from "./define";

type StepRow = {
  id: string;
  name: string;
  description: string | null;
  task_plan: string | null;
  status: string;
  total_attempts: number;
  attempts: number;
  max_attempts: number;
  directive_status: string;
  title: string;
  goal: string;
  repo: string | null;
  previous_error: string | null;
};

export const dispatchStep = defineTask(
  z.object({ step_id: z.uuid(), attempt: z.number().int().min(1) }),
  async ({ step_id, attempt }, { withClient, logger }) => {
    await withClient(async (c) => {
      // One round trip for everything the prompt needs (this job is on every hop of the DAG).
      const r = await c.query<StepRow & { dependencies: DependencyOutput[] }>(
        `select s.id, s.name, s.description, s.task_plan, s.status, s.total_attempts, s.attempts, s.max_attempts,
                d.status as directive_status, d.title, d.goal, d.repo,
                case when prev.status in ('failed', 'interrupted') then coalesce(prev.error, '(no error was recorded)') end as previous_error,
                coalesce((select json_agg(json_build_object('id', p.id, 'name', p.name, 'status', p.status, 'branch', t.branch, 'commitSha', t.commit_sha)
                                          order by p.order_index, p.created_at, p.id)
                            from baton.step_dependencies sd
                            join baton.directive_steps p on p.id = sd.depends_on_step_id
                            left join baton.tasks t on t.id = p.current_task_id
                           where sd.step_id = s.id), '[]') as dependencies
           from baton.directive_steps s
           join baton.directives d on d.id = s.directive_id
           left join baton.tasks prev on prev.id = s.current_task_id
          where s.id = $1`,
        [step_id],
      );
      const s = r.rows[0];
      if (!s || s.status !== "ready" || s.directive_status !== "active" || s.total_attempts >= attempt) return;
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
      });
      let t;
      try {
        t = await c.query<{ id: string; daemon_id: string | null }>("select id, daemon_id from baton.create_execution_task($1, $2, $3)", [
          step_id,
          prompt,
          attempt,
        ]);
      } catch (err) {
        // Paused, or the step left `ready`, since the read above: whoever changes that re-enqueues.
        if (isDbError(err, "BTSTS")) return logger.debug("the step is no longer dispatchable", { error: (err as Error).message });
        throw err;
      }
      logger.info("execution task created", { task_id: t.rows[0]?.id, daemon_id: t.rows[0]?.daemon_id, attempt });
    });
  },
);
