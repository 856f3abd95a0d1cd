/*
 * The migration runner on real, empty scratch databases with scratch directories of small
 * migrations: what it applies, and the exact message of each refusal.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, it } from "node:test";
import { Client, Pool } from "pg";
import { migrate, MigrationError } from "../../src/db/migrate";
import { createPool } from "../../src/db/pool";
import { silentLogger } from "../../src/logger";
import { databaseUrl } from "../helpers/db";

const VERSION = (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: process.env.BATON_TEST_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A new, empty database (not the migrated template), dropped after the file. */
async function scratchDatabase(): Promise<Pool & { url: string }> {
  const name = `baton_migrate_${randomBytes(5).toString("hex")}`;
  await admin((c) => c.query(`create database "${name}"`));
  const url = databaseUrl(name);
  const pool = Object.assign(createPool(url, silentLogger, 3), { url });
  cleanups.push(async () => {
    await pool.end();
    await admin((c) => c.query(`drop database if exists "${name}" with (force)`));
  });
  return pool;
}

/** A directory of migrations, file name -> SQL. */
function scratchDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-sql-"));
  for (const [name, sql] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), sql);
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const THREE = {
  "000001_log.sql": "create table log (id serial primary key, migration text not null);\ninsert into log (migration) values ('000001');\n",
  "000002_second.sql": "insert into log (migration) values ('000002');\n",
  "000003_third_one.sql": "insert into log (migration) values ('000003');\n",
};

async function refusal(promise: Promise<unknown>, kind: string): Promise<string> {
  const err = await promise.then(
    () => assert.fail(`expected a ${kind} refusal`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof MigrationError, `expected a MigrationError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  return err.message;
}

const logOf = async (pool: Pool) => (await pool.query<{ migration: string }>("select migration from log order by id")).rows.map((r) => r.migration);

it("applies the files in order, each once, and records the schema version", async () => {
  const pool = await scratchDatabase();
  const dir = scratchDir(THREE);
  assert.deepEqual(await migrate(pool, silentLogger, { dir }), { applied: ["000001_log.sql", "000002_second.sql", "000003_third_one.sql"] });
  assert.deepEqual(await migrate(pool, silentLogger, { dir }), { applied: [] });
  assert.deepEqual(await logOf(pool), ["000001", "000002", "000003"]);
  const version = (await pool.query("select migration, baton_version from baton_migrate.schema_version")).rows;
  assert.deepEqual(version, [{ migration: "000003_third_one.sql", baton_version: VERSION }]);

  fs.writeFileSync(path.join(dir, "000004_fourth.sql"), "insert into log (migration) values ('000004');\n");
  assert.deepEqual(await migrate(pool, silentLogger, { dir }), { applied: ["000004_fourth.sql"] });
  assert.deepEqual(await logOf(pool), ["000001", "000002", "000003", "000004"]);
});

it("two runners at once on an empty database apply each file once", async () => {
  const pool = await scratchDatabase();
  const other = createPool(pool.url, silentLogger, 3);
  cleanups.push(async () => other.end());
  const dir = scratchDir(THREE);
  const [a, b] = await Promise.all([migrate(pool, silentLogger, { dir }), migrate(other, silentLogger, { dir })]);
  assert.deepEqual([...a.applied, ...b.applied].sort(), Object.keys(THREE));
  assert.deepEqual(await logOf(pool), ["000001", "000002", "000003"]);
  assert.equal((await pool.query("select count(*)::int as n from baton_migrate.migrations")).rows[0].n, 3);
});

it("refuses a misnamed file in the migrations directory, before touching the database", async () => {
  const pool = await scratchDatabase();
  for (const bad of ["0002_second.sql", "000002_Second.sql", "000002-second.sql", "000002_second__x.sql", "000002_second.SQL", "notes.md"]) {
    const dir = scratchDir({ "000001_log.sql": THREE["000001_log.sql"], [bad]: "select 1;" });
    assert.equal(
      await refusal(migrate(pool, silentLogger, { dir }), "misnamed"),
      `${path.join(dir, bad)} is not a migration: every file in ${dir}/ is named NNNNNN_lowercase_words.sql (six digits, an underscore, lowercase words joined by underscores, e.g. 000025_task_labels.sql). Rename it, or move it out of that directory.`,
    );
  }
  assert.equal((await pool.query("select count(*)::int as n from pg_namespace where nspname in ('baton_migrate', 'graphile_worker')")).rows[0].n, 0);
});

it("refuses two files with one number, and a gap in the numbers", async () => {
  const pool = await scratchDatabase();
  const dup = scratchDir({ ...THREE, "000002_also_second.sql": "select 1;" });
  assert.equal(
    await refusal(migrate(pool, silentLogger, { dir: dup }), "duplicate"),
    `${path.join(dup, "000002_also_second.sql")} and ${path.join(dup, "000002_second.sql")} have the same number 000002. Each migration has its own number: renumber the newer one after the last (000004).`,
  );
  const gap = scratchDir({ "000001_log.sql": THREE["000001_log.sql"], "000003_third_one.sql": THREE["000003_third_one.sql"] });
  assert.equal(
    await refusal(migrate(pool, silentLogger, { dir: gap }), "gap"),
    `${path.join(gap, "000003_third_one.sql")} should be number 000002 (it follows 000001_log.sql). Migrations are numbered 000001, 000002, ... without gaps: renumber it.`,
  );
  const late = scratchDir({ "000002_second.sql": "select 1;" });
  assert.equal(
    await refusal(migrate(pool, silentLogger, { dir: late }), "gap"),
    `${path.join(late, "000002_second.sql")} should be number 000001 (the first migration). Migrations are numbered 000001, 000002, ... without gaps: renumber it.`,
  );
});

it("refuses a database that a newer Baton migrated", async () => {
  const pool = await scratchDatabase();
  await migrate(pool, silentLogger, { dir: scratchDir(THREE) });
  const older = scratchDir({ "000001_log.sql": THREE["000001_log.sql"], "000002_second.sql": THREE["000002_second.sql"] });
  assert.equal(
    await refusal(migrate(pool, silentLogger, { dir: older }), "newer_database"),
    `This database was migrated by a newer Baton (migration 000003_third_one.sql, Baton ${VERSION}); this Baton knows migrations up to 000002_second.sql. Upgrade Baton or use a new database.`,
  );
  const none = scratchDir({});
  assert.match(await refusal(migrate(pool, silentLogger, { dir: none }), "newer_database"), /this Baton knows migrations up to none\./);
});

it("refuses a recorded migration that is missing from the directory", async () => {
  const pool = await scratchDatabase();
  await migrate(pool, silentLogger, { dir: scratchDir(THREE) });
  const { "000002_second.sql": second, ...others } = THREE;
  const renamed = scratchDir({ ...others, "000002_renamed.sql": second });
  assert.equal(
    await refusal(migrate(pool, silentLogger, { dir: renamed }), "missing"),
    `Migration 000002_second.sql is recorded as applied to this database, but ${path.join(renamed, "000002_second.sql")} does not exist (number 000002 is now 000002_renamed.sql). An applied migration is never renamed or deleted: restore the file. A development database made from an older numbering of the migrations cannot be migrated: use a new database.`,
  );
});

it("refuses an applied migration whose file changed", async () => {
  const pool = await scratchDatabase();
  const dir = scratchDir(THREE);
  await migrate(pool, silentLogger, { dir });
  fs.appendFileSync(path.join(dir, "000002_second.sql"), "-- an edit\n");
  assert.equal(
    await refusal(migrate(pool, silentLogger, { dir }), "changed"),
    `Migration ${path.join(dir, "000002_second.sql")} was changed after it was applied to this database. Never edit an applied migration: revert the file and put the change in a new one. A development database made from an older numbering of the migrations cannot be migrated: use a new database.`,
  );
});

it("rolls back a failing migration, names it, and keeps the ones before it", async () => {
  const pool = await scratchDatabase();
  const dir = scratchDir({ ...THREE, "000004_broken.sql": "insert into log (migration) values ('000004');\nselect no_such_function();\n" });
  assert.match(
    await refusal(migrate(pool, silentLogger, { dir }), "failed"),
    new RegExp(`^Migration ${path.join(dir, "000004_broken.sql").replace(/[.]/g, "\\.")} failed: function no_such_function\\(\\) does not exist \\(at character \\d+\\)$`),
  );
  assert.deepEqual(await logOf(pool), ["000001", "000002", "000003"]);
  assert.equal((await pool.query("select migration from baton_migrate.schema_version")).rows[0].migration, "000003_third_one.sql");
});
