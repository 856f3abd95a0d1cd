/*
 * dispatch_pending: room may have appeared on one of an owner's daemons; assign its waiting tasks,
 * oldest first, each in its own short transaction, until none is left or no daemon has room.
 */
import { z } from "zod";
import { defineTask } from "./define";

const BATCH = 100;

export const dispatchPending = defineTask(z.object({ owner_id: z.uuid() }), async ({ owner_id }, { withClient, logger }) => {
  let assigned = 0;
  for (;;) {
    const pending = await withClient((c) =>
      c.query<{ id: string }>(
        `select t.id from baton.tasks t join baton.directives d on d.id = t.directive_id
          where t.owner_id = $1 and t.status = 'pending' and d.status = 'active'
          order by t.created_at, t.id limit $2`,
        [owner_id, BATCH],
      ),
    );
    if (pending.rowCount === 0) break;
    let full = false;
    for (const { id } of pending.rows) {
      const r = await withClient((c) => c.query<{ status: string | null }>("select status from baton.assign_task($1)", [id]));
      if (r.rows[0]?.status == null) {
        full = true;
        break;
      }
      assigned++;
    }
    if (full || (pending.rowCount ?? 0) < BATCH) break;
  }
  if (assigned > 0) logger.info("waiting tasks assigned", { assigned });
});
