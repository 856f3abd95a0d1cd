/*
 * The task list (in code: graphile-worker's taskDirectory loads files with import(), which the
 * CommonJS ts-node hook does not cover) and the crontab.
 */
import type { TaskList } from "graphile-worker";
import type { TaskDeps } from "./define";
import { deliverWebhook } from "./deliver_webhook";
import { dispatchPending } from "./dispatch_pending";
import { dispatchStep } from "./dispatch_step";
import { dispatchStepsTask } from "./dispatch_steps";
import { dispatchTask } from "./dispatch_task";
import { planDirective, replanDirective } from "./plan_directive";
import { reconcile } from "./reconcile";

export function buildTaskList(deps: TaskDeps): TaskList {
  return {
    plan_directive: planDirective(deps),
    replan_directive: replanDirective(deps),
    dispatch_steps: dispatchStepsTask(deps),
    dispatch_step: dispatchStep(deps),
    dispatch_task: dispatchTask(deps),
    dispatch_pending: dispatchPending(deps),
    reconcile: reconcile(deps),
    deliver_webhook: deliverWebhook(deps),
  };
}

/** Every minute; the fast path is the jobs that triggers add, this only catches what they missed. */
export const CRONTAB = "* * * * * reconcile ?jobKey=reconcile&jobKeyMode=replace\n";
