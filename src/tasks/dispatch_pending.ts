/*
 * dispatch_pending: room may have appeared on one of an owner's daemons; assign its waiting tasks,
 * oldest first, BATCH at a time (./assign), until none is left or the daemons are full.
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
        c.query<{ id: string }>(
          `select t.id from baton.tasks t join baton.directives d on d.id = t.directive_id
            where t.owner_id = $1 and t.status = 'pending' and d.status = 'active'
            order by t.created_at, t.id limit $2`,
          [owner_id, BATCH],
        ),
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
