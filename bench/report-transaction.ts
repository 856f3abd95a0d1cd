/*
 * The completion report's transaction, timed inside PostgreSQL: from its start (now(), which the
 * task's `completed` event records) to its commit (pg_xact_commit_timestamp of the event row's xmin;
 * needs track_commit_timestamp, which the bench's embedded PostgreSQL turns on). This is the
 * transaction PostGraphile runs for reportTaskStatus (BEGIN, its settings, the mutation, COMMIT),
 * without HTTP and GraphQL around it. Only reports made with a daemon token count (actor
 * baton_daemon), so a report that bypassed the API would not be measured.
 */
import type { Pool } from "pg";

/** Durations in ms of the daemons' `completed` report transactions (since `since`, an event id), or undefined when commit timestamps are off. */
export async function reportTransactionsMs(pool: Pool, sinceEventId = 0): Promise<number[] | undefined> {
  const on = await pool.query<{ on: string }>("select current_setting('track_commit_timestamp') as on");
  if (on.rows[0]?.on !== "on") return undefined;
  const r = await pool.query<{ ms: number }>(
    `select extract(epoch from (pg_xact_commit_timestamp(e.xmin) - e.created_at)) * 1000 as ms
       from baton.events e
      where e.id > $1 and e.subject_type = 'task' and e.to_status = 'completed' and e.actor = 'baton_daemon'`,
    [sinceEventId],
  );
  return r.rows.map((x) => Number(x.ms)).filter((x) => Number.isFinite(x));
}

export async function lastEventId(pool: Pool): Promise<number> {
  return Number((await pool.query<{ id: string }>("select coalesce(max(id), 0) as id from baton.events")).rows[0]!.id);
}
