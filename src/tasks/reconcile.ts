/*
 * reconcile: the crontab's safety net (every minute). baton.reconcile() finds whatever the event path
 * missed and enqueues it; it is idempotent and safe on any number of processes.
 */
import { z } from "zod";
import { defineTask } from "./define";

export const reconcile = defineTask(z.object({}).passthrough(), async (_payload, { withClient, logger }) => {
  const r = await withClient((c) => c.query<{ reconcile: Record<string, number> }>("select baton.reconcile()"));
  const found = r.rows[0]!.reconcile;
  if (Object.values(found).some((n) => n > 0)) logger.info("reconcile found work", found);
});
