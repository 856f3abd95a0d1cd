/*
 * dispatch_task: assigns pending tasks to daemons with room (baton_private.assign_tasks), waiting for
 * daemon rows that other transactions hold: it runs after the transaction that queued it committed,
 * so a slot that transaction could not see, or skipped because it was locked, is found here. Its
 * payload is an array of task ids (one job per directive collects them); a single {task_id} is
 * accepted too (jobs queued by an older Baton). With no room the tasks keep waiting; a daemon
 * registering, heartbeating with room or freeing a slot queues dispatch_pending, which picks them up.
 */
import { z } from "zod";
import { defineTask } from "./define";

const Payload = z.union([z.array(z.uuid()), z.object({ task_id: z.uuid() }).transform((p) => [p.task_id])]);

export const dispatchTask = defineTask(Payload, async (taskIds, { withClient, logger }) => {
  const ids = [...new Set(taskIds)];
  const r = await withClient((c) => c.query<{ n: number }>("select baton_private.assign_tasks($1::uuid[], false) as n", [ids]));
  const assigned = r.rows[0]?.n ?? 0;
  if (assigned > 0) logger.info("tasks assigned", { assigned, of: ids.length });
  else logger.debug("no daemon has room; the tasks wait", { tasks: ids.length });
});
