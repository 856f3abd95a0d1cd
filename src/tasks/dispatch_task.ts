/*
 * dispatch_task: assigns one pending task to a daemon with room (baton.assign_task). With no room the
 * task keeps waiting; a daemon registering, heartbeating with room or finishing a task queues
 * dispatch_pending, which picks it up.
 */
import { z } from "zod";
import { defineTask } from "./define";

export const dispatchTask = defineTask(z.object({ task_id: z.uuid() }), async ({ task_id }, { withClient, logger }) => {
  const row = await withClient((c) => c.query<{ daemon_id: string | null }>("select daemon_id from baton.assign_task($1)", [task_id]));
  const daemonId = row.rows[0]?.daemon_id ?? null;
  if (daemonId) logger.info("task assigned", { daemon_id: daemonId });
  else logger.debug("no daemon has room; the task waits");
});
