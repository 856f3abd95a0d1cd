/*
 * Migrations: the numbered files in sql/ (checked by ./migration-files), compared with what this
 * database has applied, then graphile-worker's migrations (our triggers call graphile_worker.add_job),
 * then the pending files, each once, in order, in its own transaction. All of it under one advisory
 * lock, so that several Baton processes starting together on an empty database do not race
 * (graphile-worker's own clash handling then never comes into play; it runs on another pool
 * connection while this one holds the lock, so the pool needs two).
 *
 * baton_migrate.migrations records each applied file with its checksum and the Baton version that
 * applied it; the highest one is the schema version (view baton_migrate.schema_version). Refused:
 * an applied file that was edited, renamed or deleted, and a database that has migrations this Baton
 * does not know (a newer Baton migrated it).
 *
 * From v0.2.0 on, migrations are append-only in the repository too: src/db/released-migrations.json
 * holds the sha256 of every file each release shipped (v0.2.0: 000001-000015), and readMigrations
 * refuses a released file that was edited, renamed or deleted (kind "released") before any database
 * is touched, so the mistake shows on the developer's first run rather than in users' databases.
 * `node scripts/release-schema.js vX.Y.Z` records the files added since the last release.
 *
 * Kept instead of graphile-migrate: that tool is built around a development workflow (a shadow
 * database, current.sql, `commit`/`uncommit`) and a CLI of its own, and would be a second runner
 * beside graphile-worker's; what Baton needs from it is the checks here, in one small file.
 */
import fs from "node:fs";
import path from "node:path";
import type { Pool, PoolClient } from "pg";
import type { Logger } from "../logger";
import { fileLabel, type Migration, MigrationError, numberOf, readMigrations, type Releases, SQL_DIR } from "./migration-files";

export { type Migration, MigrationError, readMigrations, RELEASED, type Releases, SQL_DIR } from "./migration-files";

const LOCK_KEY = 7_310_421_001; // arbitrary, constant: "baton migrations"

type Applied = { name: string; checksum: string; baton_version: string | null };

function batonVersion(): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(SQL_DIR, "..", "package.json"), "utf8")) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

async function ensureHistoryTable(client: PoolClient): Promise<void> {
  await client.query(`
    create schema if not exists baton_migrate;
    create table if not exists baton_migrate.migrations (
      name text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    );
    alter table baton_migrate.migrations add column if not exists baton_version text;
    comment on table baton_migrate.migrations is 'Which files of sql/ have been applied, with their checksums.';
    comment on column baton_migrate.migrations.baton_version is 'The version of the Baton that applied the file (package.json).';
    create or replace view baton_migrate.schema_version as
      select name as migration, baton_version, applied_at from baton_migrate.migrations order by name desc limit 1;
    comment on view baton_migrate.schema_version is 'The schema version: the highest migration applied. A Baton that does not have this file refuses to start.';`);
}

/** The files still to apply, or a MigrationError saying why this database and these files do not fit. */
export function pendingMigrations(files: Migration[], applied: Applied[], dir = SQL_DIR): Migration[] {
  const startOver = "A development database made from an older numbering of the migrations cannot be migrated: use a new database.";
  const byNumber = new Map(files.map((m) => [m.number, m]));
  const last = files[files.length - 1];
  const sorted = [...applied].sort((a, b) => (a.name < b.name ? -1 : 1));
  const newer = sorted.filter((a) => numberOf(a.name) > (last?.number ?? 0));
  for (const a of sorted.filter((x) => !newer.includes(x))) {
    const file = byNumber.get(numberOf(a.name));
    if (!file || file.name !== a.name) {
      throw new MigrationError(
        "missing",
        `Migration ${a.name} is recorded as applied to this database, but ${fileLabel(dir, a.name)} does not exist${file ? ` (number ${a.name.slice(0, 6)} is now ${file.name})` : ""}. An applied migration is never renamed or deleted: restore the file. ${startOver}`,
      );
    }
    if (file.checksum !== a.checksum) {
      throw new MigrationError(
        "changed",
        `Migration ${fileLabel(dir, a.name)} was changed after it was applied to this database. Never edit an applied migration: revert the file and put the change in a new one. ${startOver}`,
      );
    }
  }
  if (newer.length > 0) {
    const top = newer[newer.length - 1]!;
    throw new MigrationError(
      "newer_database",
      `This database was migrated by a newer Baton (migration ${top.name}${top.baton_version ? `, Baton ${top.baton_version}` : ""}); this Baton knows migrations up to ${last?.name ?? "none"}. Upgrade Baton or use a new database.`,
    );
  }
  // Every applied file matched a file by number and name above, and numbers have no gaps: what is
  // left is after the highest applied one.
  const done = new Set(sorted.map((a) => a.name));
  const pending = files.filter((m) => !done.has(m.name));
  return pending;
}

export async function migrate(pool: Pool, logger: Logger, options: { dir?: string; releases?: Releases } = {}): Promise<{ applied: string[] }> {
  const dir = options.dir ?? SQL_DIR;
  const files = readMigrations(dir, options.releases); // misnamed or edited released files are refused before touching the database
  const { runMigrations } = await import("graphile-worker");
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    await ensureHistoryTable(client);
    const history = (await client.query<Applied>("select name, checksum, baton_version from baton_migrate.migrations")).rows;
    const pending = pendingMigrations(files, history, dir);
    await runMigrations({ pgPool: pool, logger: undefined });
    const version = batonVersion();
    for (const m of pending) {
      logger.info("applying migration", { migration: m.name });
      await client.query("begin");
      try {
        await client.query(m.sql);
        await client.query("insert into baton_migrate.migrations (name, checksum, baton_version) values ($1, $2, $3)", [m.name, m.checksum, version]);
        await client.query("commit");
      } catch (err) {
        await client.query("rollback");
        const e = err as Error & { position?: string };
        throw new MigrationError("failed", `Migration ${fileLabel(dir, m.name)} failed: ${e.message}${e.position ? ` (at character ${e.position})` : ""}`);
      }
      applied.push(m.name);
    }
  } finally {
    await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return { applied };
}
