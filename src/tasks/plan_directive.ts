/*
 * plan_directive and replan_directive: build the planning prompt and create the planning task (which
 * is assigned to a daemon in the same transaction when one has room), with the directive locked from
 * the first read. Both return quietly when the directive no longer needs planning, so duplicates and
 * stale jobs are harmless.
 */
import type { PoolClient } from "pg";
import { z } from "zod";
import { buildPlanningPrompt, buildReplanningPrompt, type ExistingStep } from "../prompts/planning";
import { defineTask } from "./define";

type DirectiveRow = {
  id: string;
  title: string;
  goal: string;
  previous_goal: string | null;
  repo: string | null;
  base_branch: string;
  check_command: string | null;
  goal_revision: number;
  needs_planning: boolean;
  planned_revision: number | null;
  next_generation: number;
  review_plans: boolean;
  rejection: string | null;
};

async function loadDirective(c: PoolClient, id: string): Promise<DirectiveRow | undefined> {
  const r = await c.query<DirectiveRow>(
    `select d.id, d.title, d.goal, d.previous_goal, d.repo, d.base_branch, d.check_command, d.goal_revision, d.planned_revision,
            baton_private.needs_planning(d) as needs_planning, d.review_plans,
            -- Plan review (sql/000024): why the owner rejected the last plan proposed for this goal revision.
            (select p.reason from baton.plan_proposals p where p.directive_id = d.id and p.goal_revision = d.goal_revision and p.status = 'rejected'
              order by p.decided_at desc limit 1) as rejection,
            greatest(d.current_generation, coalesce((select max(s.generation) from baton.directive_steps s where s.directive_id = d.id), 0)) + 1 as next_generation
       from baton.directives d where d.id = $1`,
    [id],
  );
  return r.rows[0];
}

/*
 * The directive's steps; with goalRevision, only those added by an earlier planning task of that goal
 * revision (one that failed or was interrupted after adding some: its successor must not add them again).
 */
async function loadSteps(c: PoolClient, directiveId: string, goalRevision?: number): Promise<ExistingStep[]> {
  const r = await c.query<ExistingStep>(
    `select s.id, s.name, s.description, s.task_plan as "taskPlan", s.status, s.generation,
            coalesce((select array_agg(d.depends_on_step_id::text order by d.depends_on_step_id) from baton.step_dependencies d where d.step_id = s.id), '{}') as "dependsOn",
            t.branch, t.commit_sha as "commitSha", t.error
       from baton.directive_steps s left join baton.tasks t on t.id = s.current_task_id
      where s.directive_id = $1
        and ($2::integer is null or exists (select 1 from baton.tasks p
              where p.id = s.added_by_task_id and p.kind = 'planning' and p.goal_revision = $2))
      order by s.order_index, s.created_at, s.id`,
    [directiveId, goalRevision ?? null],
  );
  return r.rows;
}

const Payload = z.object({ directive_id: z.uuid(), goal_revision: z.number().int().optional() });

export const planDirective = defineTask(Payload, async ({ directive_id }, { withClient, logger }) => {
  await withClient(async (c) => {
    // One transaction with the directive locked first (lock order: directive first): the goal and the
    // revision the prompt is built from are the ones create_planning_task records, even if the goal
    // is updated meanwhile (update_goal waits, then asks for another plan).
    await c.query("begin");
    try {
      await c.query("select 1 from baton.directives where id = $1 for update", [directive_id]);
      const d = await loadDirective(c, directive_id);
      if (!d || !d.needs_planning) {
        await c.query("commit");
        return;
      }
      const input = {
        directiveId: d.id,
        title: d.title,
        goal: d.goal,
        repo: d.repo,
        baseBranch: d.base_branch,
        generation: d.next_generation,
        check: d.check_command,
        earlierSteps: await loadSteps(c, d.id, d.goal_revision),
        reviewPlans: d.review_plans,
        rejection: d.rejection,
      };
      const prompt =
        d.planned_revision === null
          ? buildPlanningPrompt(input)
          : buildReplanningPrompt({ ...input, previousGoal: d.previous_goal, steps: await loadSteps(c, d.id) });
      const t = await c.query<{ id: string; daemon_id: string | null; generation: number }>(
        "select id, daemon_id, generation from baton.create_planning_task($1, $2)",
        [d.id, prompt],
      );
      await c.query("commit");
      const task = t.rows[0]!;
      logger.info(d.planned_revision === null ? "planning task created" : "re-planning task created", {
        task_id: task.id,
        daemon_id: task.daemon_id,
        generation: task.generation,
      });
    } catch (err) {
      await c.query("rollback").catch(() => undefined);
      throw err;
    }
  });
});

export const replanDirective = planDirective;
