/*
 * "The database is unchanged": row counts and an md5 of every row of the tables a request could touch,
 * read as the superuser (no row-level security). Compare a snapshot taken before a refused request
 * with one taken after it; a difference names the tables that changed.
 */
import assert from "node:assert/strict";
import type { ClientBase } from "pg";
import type { TestDb } from "./db";

/** Every table a Baton state change writes to, including graphile-worker's jobs (enqueues are changes too). */
export const SNAPSHOT_TABLES = [
  "baton.owners",
  "baton.daemons",
  "baton.directives",
  "baton.directive_steps",
  "baton.step_dependencies",
  "baton.tasks",
  "baton.events",
  "baton.task_output",
  "baton.webhooks",
  "baton_private.webhook_secrets",
  "baton.webhook_deliveries",
  "graphile_worker._private_jobs",
] as const;

export type Snapshot = Record<string, { rows: number; md5: string }>;

// Each row as text, ordered by that text: deterministic for any table, with or without an id column.
const SQL = SNAPSHOT_TABLES.map(
  (t) => `select '${t}' as t, count(*)::int as rows, md5(coalesce(string_agg(x::text, E'\\n' order by x::text), '')) as md5 from ${t} x`,
).join("\nunion all\n");

/** As root, or on `client` (to see what its open transaction has done). */
export async function snapshot(db: TestDb, client?: ClientBase): Promise<Snapshot> {
  const r = await (client ?? db.pool).query<{ t: string; rows: number; md5: string }>(SQL);
  return Object.fromEntries(r.rows.map((row) => [row.t, { rows: row.rows, md5: row.md5 }]));
}

/** The tables whose rows differ between two snapshots, with their row counts. */
export function changedTables(before: Snapshot, after: Snapshot): string[] {
  return SNAPSHOT_TABLES.filter((t) => before[t]!.md5 !== after[t]!.md5).map((t) => `${t} (${before[t]!.rows} -> ${after[t]!.rows} rows)`);
}

/** Asserts that nothing changed since `before`. */
export async function assertUnchanged(db: TestDb, before: Snapshot, what: string): Promise<void> {
  const changed = changedTables(before, await snapshot(db));
  assert.deepEqual(changed, [], `${what} changed the database: ${changed.join(", ")}`);
}
