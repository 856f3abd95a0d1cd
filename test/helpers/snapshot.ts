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
  "baton.questions",
  "baton.plan_proposals",
  "baton_private.plan_proposal_steps",
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

/**
 * The same, cheaper on a database that many fixtures share (the authorization matrix makes one per
 * mutation cell, and hashing every row of them all made it quadratic): the md5 covers only the rows
 * that reference the given owners or anything of theirs (daemons, directives, steps, tasks, webhooks)
 * through a uuid column (for graphile-worker's jobs, which carry ids in text: anywhere in the row),
 * while `rows` still counts every row, so an insert or a delete anywhere shows too.
 */
export async function scopedSnapshot(db: TestDb, owners: string[]): Promise<Snapshot> {
  const sql = (scopedSql[db.url] ??= await buildScopedSql(db));
  const ids = (
    await db.pool.query<{ ids: string[] }>(
      `with o as (select unnest($1::uuid[]) as id)
       select array(
         select id from o
         union all select id from baton.daemons where owner_id in (select id from o)
         union all select id from baton.directives where owner_id in (select id from o)
         union all select s.id from baton.directive_steps s join baton.directives d on d.id = s.directive_id where d.owner_id in (select id from o)
         union all select t.id from baton.tasks t join baton.directives d on d.id = t.directive_id where d.owner_id in (select id from o)
         union all select id from baton.webhooks where owner_id in (select id from o)
       )::text[] as ids`,
      [owners],
    )
  ).rows[0]!.ids;
  const r = await db.pool.query<{ t: string; rows: number; md5: string }>(sql, [ids, ids.map((id) => `%${id}%`)]);
  return Object.fromEntries(r.rows.map((row) => [row.t, { rows: row.rows, md5: row.md5 }]));
}

const scopedSql: Record<string, string> = {};

async function buildScopedSql(db: TestDb): Promise<string> {
  const cols = await db.pool.query<{ t: string; c: string }>(
    `select format('%I.%I', n.nspname, c.relname) as t, a.attname as c
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where a.atttypid = 'uuid'::regtype and a.attnum > 0 and not a.attisdropped
        and format('%I.%I', n.nspname, c.relname) = any ($1)`,
    [SNAPSHOT_TABLES],
  );
  return SNAPSHOT_TABLES.map((t) => {
    const uuids = cols.rows.filter((r) => r.t === t).map((r) => `x.${r.c}::text = any ($1)`);
    const where = uuids.length > 0 ? uuids.join(" or ") : "x::text like any ($2)";
    return `select '${t}' as t, (select count(*) from ${t})::int as rows, md5(coalesce(string_agg(x::text, E'\\n' order by x::text), '')) as md5 from ${t} x where ${where}`;
  }).join("\nunion all\n");
}

/** The tables whose rows differ between two snapshots, with their row counts. */
export function changedTables(before: Snapshot, after: Snapshot): string[] {
  return SNAPSHOT_TABLES.filter((t) => before[t]!.md5 !== after[t]!.md5 || before[t]!.rows !== after[t]!.rows).map(
    (t) => `${t} (${before[t]!.rows} -> ${after[t]!.rows} rows)`,
  );
}

/** Asserts that nothing changed since `before`. */
export async function assertUnchanged(db: TestDb, before: Snapshot, what: string): Promise<void> {
  const changed = changedTables(before, await snapshot(db));
  assert.deepEqual(changed, [], `${what} changed the database: ${changed.join(", ")}`);
}
