/*
 * Metrics read from the database at each scrape: directives, steps, tasks and daemons by status, the
 * graphile-worker queue, and the dispatch latency histogram (step ready -> task assigned, from
 * tasks.ready_at and tasks.assigned_at). One round trip, and no query that grows with history:
 * the counts and the histogram are counters that triggers keep (sql/000015_metric_counters.sql,
 * read through baton_private.metric_counts_snapshot()); live daemons come from the partial index on
 * connected daemons; the job queue holds only jobs not yet done. The counts are over all owners, and
 * the histogram counts every assignment ever made (a Prometheus histogram only grows).
 */
import type { Pool } from "pg";
import { z } from "zod";

/**
 * Dispatch latency buckets, in seconds: the event path takes milliseconds, waiting for a daemon minutes.
 * baton_private.dispatch_latency_buckets() buckets the observations with the same list.
 */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

import { STATUSES } from "../statuses";

export const SNAPSHOT_SQL = `
  select json_build_object(
    'counts', (select coalesce(json_agg(json_build_array(c.metric, c.label, c.n, c.sum)), '[]') from baton_private.metric_counts_snapshot() c),
    'daemons_live', (select count(*) from baton.daemons d
                      where d.status = 'connected' and d.last_heartbeat_at >= now() - baton_private.daemon_lease()),
    'jobs', (select json_build_object(
               'ready', count(*) filter (where j.locked_at is null and j.run_at <= now() and j.attempts < j.max_attempts),
               'scheduled', count(*) filter (where j.locked_at is null and j.run_at > now() and j.attempts < j.max_attempts),
               'running', count(*) filter (where j.locked_at is not null),
               'failed', count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts))
               from graphile_worker.jobs j)
  ) as snapshot`;

const Counts = z.record(z.string(), z.number());
const RawSchema = z.object({
  counts: z.array(z.tuple([z.string(), z.string(), z.coerce.number(), z.coerce.number()])),
  daemons_live: z.coerce.number(),
  jobs: z.object({ ready: z.coerce.number(), scheduled: z.coerce.number(), running: z.coerce.number(), failed: z.coerce.number() }),
});
export type Snapshot = {
  directives: z.infer<typeof Counts>;
  steps: z.infer<typeof Counts>;
  tasks: z.infer<typeof Counts>;
  daemons: z.infer<typeof Counts>;
  daemons_live: number;
  jobs: z.infer<typeof RawSchema>["jobs"];
  latency: { buckets: [number, number][]; sum: number; count: number };
  /** Usage tasks reported, ever, over all owners (sql/000023). */
  usage: { inputTokens: number; outputTokens: number; costUsd: number };
};

export async function readSnapshot(pool: Pool): Promise<Snapshot> {
  const r = await pool.query<{ snapshot: unknown }>(SNAPSHOT_SQL);
  const raw = RawSchema.parse(r.rows[0]!.snapshot);
  const byMetric = (metric: string) => Object.fromEntries(raw.counts.filter(([m, , n]) => m === metric && n !== 0).map(([, label, n]) => [label, n]));
  // Latency rows are per bucket (the smallest upper bound that holds the observation): cumulate them.
  const latency = raw.counts.filter(([m]) => m === "dispatch_latency").map(([, le, n, sum]) => ({ le: le === "+Inf" ? Infinity : Number(le), n, sum }));
  return {
    directives: byMetric("directives"),
    steps: byMetric("steps"),
    tasks: byMetric("tasks"),
    daemons: byMetric("daemons"),
    daemons_live: raw.daemons_live,
    jobs: raw.jobs,
    usage: {
      inputTokens: raw.counts.find(([m, l]) => m === "usage" && l === "input_tokens")?.[2] ?? 0,
      outputTokens: raw.counts.find(([m, l]) => m === "usage" && l === "output_tokens")?.[2] ?? 0,
      costUsd: raw.counts.find(([m, l]) => m === "usage" && l === "cost_usd")?.[3] ?? 0,
    },
    latency: {
      buckets: LATENCY_BUCKETS.map((b) => [b, latency.filter((l) => l.le <= b).reduce((a, l) => a + l.n, 0)]),
      sum: latency.reduce((a, l) => a + l.sum, 0),
      count: latency.reduce((a, l) => a + l.n, 0),
    },
  };
}

/** Every known status with its count (0 when none), plus any status the database has that we do not know. */
export function countsByStatus(kind: keyof typeof STATUSES, counts: Record<string, number>): [string, number][] {
  const known: readonly string[] = STATUSES[kind];
  return [...known, ...Object.keys(counts).filter((s) => !known.includes(s)).sort()].map((status) => [status, counts[status] ?? 0]);
}
