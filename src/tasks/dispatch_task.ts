/*
 * dispatch_task: assigns pending tasks to daemons with room (./assign). It runs after the transaction
 * that queued it committed, so a slot that transaction could not see, or skipped because another
 * transaction held it, is found here. Its payload is an array of task ids (one job per directive
 * collects them); a single {task_id} is accepted too (jobs queued by an older Baton). With no room the
 * tasks keep waiting; a daemon registering, heartbeating with room or freeing a slot queues
 * dispatch_pending, which picks them up.
 */
import { z } from "zod";
import { assignWaitingTasks } from "./assign";
import { defineTask } from "./define";

const Payload = z.union([z.array(z.uuid()), z.object({ task_id: z.uuid() }).transform((p) => [p.task_id])]);

export const dispatchTask = defineTask(Payload, async (taskIds, { withClient, logger }) => {
  const ids = [...new Set(taskIds)];
  const assigned = await assignWaitingTasks(withClient, ids);
  if (assigned > 0) logger.info("tasks assigned", { assigned, of: ids.length });
  else logger.debug("no daemon has room; the tasks wait", { tasks: ids.length });
});
