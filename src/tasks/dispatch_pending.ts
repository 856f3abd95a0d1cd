/*
 * dispatch_pending: room may have appeared on one of an owner's daemons; assign its waiting tasks,
 * in turn order (round-robin over its directives, then priority, then age, within the directives' and
 * the owner's max_parallel: baton_private.tasks_in_turn, sql/000026), BATCH at a time (./assign),
 * until none is left or the daemons are full.
 */
import { z } from "zod";
import { assignWaitingTasks } from "./assign";
import { defineTask } from "./define";

const BATCH = 200;

export const dispatchPending = defineTask(z.object({ owner_id: z.uuid() }), async ({ owner_id }, { withClient, logger }) => {
  let assigned = 0;
  for (;;) {
    const ids = (
      await withClient((c) =>
        c.query<{ id: string }>("select c.task_id as id from baton_private.tasks_in_turn($1, null, $2) c order by c.k", [owner_id, BATCH]),
      )
    ).rows.map((t) => t.id);
    if (ids.length === 0) break;
    const n = await assignWaitingTasks(withClient, ids);
    assigned += n;
    // Fewer assigned than asked: the daemons are full.
    if (n < ids.length || ids.length < BATCH) break;
  }
  if (assigned > 0) logger.info("waiting tasks assigned", { assigned });
});
