/*
 * Migrations: graphile-worker's first (our triggers call graphile_worker.add_job), then the numbered
 * files in sql/, each applied once, in its own transaction. All of it under one advisory lock, so that
 * several Baton processes starting together on an empty database do not race (graphile-worker's own
 * clash handling then never comes into play; it runs on another pool connection while this one holds
 * the lock, so the pool needs two). A file's checksum is recorded: editing an applied
 * migration is refused, because schema changes after a release are new files.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Pool } from "pg";
import type { Logger } from "../logger";

export const SQL_DIR = path.join(__dirname, "..", "..", "sql");
const LOCK_KEY = 7_310_421_001; // arbitrary, constant: "baton migrations"

export type Migration = { name: string; sql: string; checksum: string };

export function readMigrations(dir = SQL_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

export async function migrate(pool: Pool, logger: Logger): Promise<{ applied: string[] }> {
  const { runMigrations } = await import("graphile-worker");
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    await runMigrations({ pgPool: pool, logger: undefined });
    await client.query(`
      create schema if not exists baton_migrate;
      create table if not exists baton_migrate.migrations (
        name text primary key,
        checksum text not null,
        applied_at timestamptz not null default now()
      );
      comment on table baton_migrate.migrations is 'Which files of sql/ have been applied, with their checksums.';`);
    const done = new Map<string, string>(
      (await client.query<{ name: string; checksum: string }>("select name, checksum from baton_migrate.migrations")).rows.map((r) => [r.name, r.checksum]),
    );
    for (const m of readMigrations()) {
      const previous = done.get(m.name);
      if (previous !== undefined) {
        if (previous !== m.checksum) {
          throw new Error(`Migration ${m.name} was changed after it was applied to this database. Never edit an applied migration: revert the file and put the change in a new one.`);
        }
        continue;
      }
      logger.info("applying migration", { migration: m.name });
      await client.query("begin");
      try {
        await client.query(m.sql);
        await client.query("insert into baton_migrate.migrations (name, checksum) values ($1, $2)", [m.name, m.checksum]);
        await client.query("commit");
      } catch (err) {
        await client.query("rollback");
        const e = err as Error & { position?: string };
        throw new Error(`Migration ${m.name} failed: ${e.message}${e.position ? ` (at character ${e.position})` : ""}`);
      }
      applied.push(m.name);
    }
  } finally {
    await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return { applied };
}
