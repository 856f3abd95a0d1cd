/*
 * Hops from the fake daemons' records: for each step with dependencies, the time from the last of its
 * dependencies' `completed` reports being sent to its own spawn_task arriving.
 */
import type { TaskRecord } from "./fake-daemons";

export function hopsOf(records: Iterable<TaskRecord>, deps: Map<string, string[]>): number[] {
  const byStep = new Map<string, TaskRecord>();
  for (const r of records) if (r.stepId) byStep.set(r.stepId, r);
  const hops: number[] = [];
  for (const [step, rec] of byStep) {
    const parents = deps.get(step);
    if (!parents?.length) continue;
    let last = -Infinity;
    for (const p of parents) last = Math.max(last, byStep.get(p)?.reportSentAt ?? NaN);
    if (Number.isFinite(last)) hops.push(rec.receivedAt - last);
  }
  return hops;
}
