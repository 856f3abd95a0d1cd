/*
 * dispatch_pending: room may have appeared on one of an owner's daemons; assign its waiting tasks,
 * oldest first, BATCH per transaction (one set-based assign_tasks each), until none is left or the
 * daemons are full.
 */
import { z } from "zod";
import { defineTask } from "./define";

const BATCH = 200;

export const dispatchPending = defineTask(z.object({ owner_id: z.uuid() }), async ({ owner_id }, { withClient, logger }) => {
  let assigned = 0;
  for (;;) {
    const r = await withClient((c) =>
      c.query<{ asked: number; n: number }>(
        `select cardinality(x.ids) as asked, baton_private.assign_tasks(x.ids, false) as n
           from (select array(select t.id from baton.tasks t join baton.directives d on d.id = t.directive_id
                               where t.owner_id = $1 and t.status = 'pending' and d.status = 'active'
                               order by t.created_at, t.id limit $2) as ids) x`,
        [owner_id, BATCH],
      ),
    );
    const { asked = 0, n = 0 } = r.rows[0] ?? {};
    assigned += n;
    // Fewer assigned than asked: the daemons are full (their rows were waited for, not skipped).
    if (n === 0 || n < asked || asked < BATCH) break;
  }
  if (assigned > 0) logger.info("waiting tasks assigned", { assigned });
});
