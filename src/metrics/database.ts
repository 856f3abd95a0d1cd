/*
 * Metrics read from the database at each scrape: directives, steps, tasks and daemons by status, the
 * graphile-worker queue, and the dispatch latency histogram (step ready -> task assigned, from
 * tasks.ready_at and tasks.assigned_at). One round trip; every number is computed in SQL. The
 * counts are over all owners, and the histogram over every task ever assigned, so it only grows
 * (like a Prometheus histogram should) until directives are deleted.
 */
import type { Pool } from "pg";
import { z } from "zod";
import { histogram, type Family } from "./prometheus";

/** Dispatch latency buckets, in seconds: the event path takes milliseconds, waiting for a daemon minutes. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

const STATUSES = {
  directives: ["draft", "active", "paused", "idle", "archived"],
  steps: ["pending", "ready", "running", "completed", "failed", "skipped", "blocked"],
  tasks: ["pending", "starting", "running", "completed", "failed", "interrupted", "cancelled"],
  daemons: ["connected", "disconnected"],
} as const;

const SNAPSHOT_SQL = `
  with latency as (
    select extract(epoch from t.assigned_at - coalesce(t.ready_at, t.created_at))::float8 as seconds
      from baton.tasks t where t.assigned_at is not null
  )
  select json_build_object(
    'directives', (select coalesce(json_object_agg(status, n), '{}') from (select status, count(*) n from baton.directives group by status) x),
    'steps', (select coalesce(json_object_agg(status, n), '{}') from (select status, count(*) n from baton.directive_steps group by status) x),
    'tasks', (select coalesce(json_object_agg(status, n), '{}') from (select status, count(*) n from baton.tasks group by status) x),
    'daemons', (select coalesce(json_object_agg(status, n), '{}') from (select status, count(*) n from baton.daemons group by status) x),
    'daemons_live', (select count(*) from baton.daemons d
                      where d.status = 'connected' and d.last_heartbeat_at >= now() - baton_private.daemon_lease()),
    'jobs', (select json_build_object(
               'ready', count(*) filter (where j.locked_at is null and j.run_at <= now() and j.attempts < j.max_attempts),
               'scheduled', count(*) filter (where j.locked_at is null and j.run_at > now() and j.attempts < j.max_attempts),
               'running', count(*) filter (where j.locked_at is not null),
               'failed', count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts))
               from graphile_worker.jobs j),
    'latency', json_build_object(
      'buckets', (select json_agg(json_build_array(b, (select count(*) from latency l where l.seconds <= b)) order by b) from unnest($1::float8[]) b),
      'sum', (select coalesce(sum(l.seconds), 0) from latency l),
      'count', (select count(*) from latency l))
  ) as snapshot`;

const Counts = z.record(z.string(), z.coerce.number());
const SnapshotSchema = z.object({
  directives: Counts,
  steps: Counts,
  tasks: Counts,
  daemons: Counts,
  daemons_live: z.coerce.number(),
  jobs: z.object({ ready: z.coerce.number(), scheduled: z.coerce.number(), running: z.coerce.number(), failed: z.coerce.number() }),
  latency: z.object({ buckets: z.array(z.tuple([z.coerce.number(), z.coerce.number()])), sum: z.coerce.number(), count: z.coerce.number() }),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;

export async function readSnapshot(pool: Pool): Promise<Snapshot> {
  const r = await pool.query<{ snapshot: unknown }>(SNAPSHOT_SQL, [LATENCY_BUCKETS]);
  return SnapshotSchema.parse(r.rows[0]!.snapshot);
}

/** Every known status gets a sample (0 when none), plus any status the database has that we do not know. */
function byStatus(name: string, help: string, known: readonly string[], counts: Record<string, number>): Family {
  const statuses = [...known, ...Object.keys(counts).filter((s) => !known.includes(s)).sort()];
  return { name, help, type: "gauge", samples: statuses.map((status) => ({ labels: { status }, value: counts[status] ?? 0 })) };
}

export function databaseFamilies(s: Snapshot): Family[] {
  return [
    byStatus("baton_directives", "Directives by status.", STATUSES.directives, s.directives),
    byStatus("baton_steps", "Directive steps by status.", STATUSES.steps, s.steps),
    byStatus("baton_tasks", "Tasks by status.", STATUSES.tasks, s.tasks),
    byStatus("baton_daemons", "Daemons by status.", STATUSES.daemons, s.daemons),
    { name: "baton_daemons_live", help: "Connected daemons whose heartbeat is within the lease (the ones tasks are dispatched to).", type: "gauge", samples: [{ value: s.daemons_live }] },
    {
      name: "baton_worker_jobs",
      help: "graphile-worker jobs by state: ready (waiting for a worker), scheduled (run_at in the future), running (locked), failed (out of attempts).",
      type: "gauge",
      samples: (["ready", "scheduled", "running", "failed"] as const).map((state) => ({ labels: { state }, value: s.jobs[state] })),
    },
    histogram(
      "baton_dispatch_latency_seconds",
      "Time from a task's work becoming ready (its step ready, or planning needed) to the task being assigned to a daemon, over every assigned task.",
      s.latency.buckets,
      s.latency.sum,
      s.latency.count,
    ),
  ];
}
