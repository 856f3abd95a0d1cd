/*
 * Released migrations are append-only: each file a release shipped (src/db/released-migrations.json)
 * must be in sql/ byte for byte. The first test is the one that turns red when someone edits a
 * released file; the others refuse edited, deleted and renamed copies with the exact message, accept a
 * new file after them, and run scripts/release-schema.js, which records the next release.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, it } from "node:test";
import { migrate, MigrationError, readMigrations, RELEASED, SQL_DIR } from "../../src/db/migrate";
import { checksumOf } from "../../src/db/migration-files";
import { createPool } from "../../src/db/pool";
import { silentLogger } from "../../src/logger";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();
const ROOT = path.join(__dirname, "..", "..");
const MANIFEST = path.join(ROOT, "src", "db", "released-migrations.json");
const V020 = Object.keys(RELEASED["v0.2.0"] ?? {});

const dirs: string[] = [];
let pool: ReturnType<typeof createPool> | undefined;
/** The runner's pool on this file's database (createPool adds the error handlers graphile-worker asks for). */
const runnerPool = () => (pool ??= createPool(db.url, silentLogger, 3));
after(async () => {
  await pool?.end();
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

/** A temporary directory holding copies of the named files of sql/. */
function copyOf(names: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-released-"));
  dirs.push(dir);
  for (const name of names) fs.copyFileSync(path.join(SQL_DIR, name), path.join(dir, name));
  return dir;
}

function refusal(fn: () => unknown): MigrationError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MigrationError, `expected a MigrationError, got ${String(err)}`);
    assert.equal(err.kind, "released", err.message);
    return err;
  }
  assert.fail("expected a released refusal");
}

it("every released file in sql/ has the checksum its release recorded", () => {
  for (const [version, files] of Object.entries(RELEASED)) {
    for (const [name, checksum] of Object.entries(files)) {
      const file = path.join(SQL_DIR, name);
      assert.ok(fs.existsSync(file), `sql/${name} was released in ${version} and must not be renamed or deleted: restore it.`);
      assert.equal(
        checksumOf(fs.readFileSync(file, "utf8")),
        checksum,
        `sql/${name} was edited after its release in ${version}: revert it (git tag ${version} has it) and put the change in a new migration.`,
      );
    }
  }
  assert.doesNotThrow(() => readMigrations());
});

it("v0.2.0 released migrations 000001 to 000015, and every release is named vX.Y.Z", () => {
  assert.deepEqual(
    V020.map((n) => n.slice(0, 6)),
    Array.from({ length: 15 }, (_, i) => String(i + 1).padStart(6, "0")),
  );
  assert.equal(V020[14], "000015_metric_counters.sql");
  for (const version of Object.keys(RELEASED)) assert.match(version, /^v\d+\.\d+\.\d+$/);
});

it("refuses an edited released file, before touching the database", async () => {
  const dir = copyOf(V020);
  fs.appendFileSync(path.join(dir, "000004_steps.sql"), "\n-- a late fix\n");
  const expected = `${dir}/000004_steps.sql was edited after its release in v0.2.0. Migrations released in v0.2.0 are append-only: revert ${dir}/000004_steps.sql (git tag v0.2.0 has it) and put the change in a new migration (000016_...).`;
  assert.equal(refusal(() => readMigrations(dir, RELEASED)).message, expected);
  // Through the runner, on a database that applied the real file: the release's message, not "changed".
  const fresh = createPool(db.url, silentLogger, 3);
  const err = await migrate(fresh, silentLogger, { dir, releases: RELEASED }).then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => e,
  );
  const connections = fresh.totalCount;
  await fresh.end();
  assert.ok(err instanceof MigrationError && err.kind === "released", String(err));
  assert.equal(err.message, expected);
  assert.equal(connections, 0, "the runner connected before refusing");
  // Only files of the given releases are checked: the same copy is fine for a directory with none.
  assert.equal(readMigrations(dir, {}).length, 15);
});

it("refuses a deleted or renamed released file, ahead of the gap it leaves", () => {
  const deleted = copyOf(V020.filter((n) => n !== "000015_metric_counters.sql"));
  assert.equal(
    refusal(() => readMigrations(deleted, RELEASED)).message,
    `${deleted}/000015_metric_counters.sql was released in v0.2.0 but does not exist. Migrations released in v0.2.0 are append-only: restore ${deleted}/000015_metric_counters.sql (git tag v0.2.0 has it) and put any change in a new migration (000016_...).`,
  );
  const gap = copyOf(V020.filter((n) => n !== "000004_steps.sql"));
  assert.match(refusal(() => readMigrations(gap, RELEASED)).message, /000004_steps\.sql was released in v0\.2\.0 but does not exist\./);
  const renamed = copyOf(V020);
  fs.renameSync(path.join(renamed, "000004_steps.sql"), path.join(renamed, "000004_step_rows.sql"));
  assert.equal(
    refusal(() => readMigrations(renamed, RELEASED)).message,
    `${renamed}/000004_steps.sql was released in v0.2.0 but does not exist (number 000004 is now 000004_step_rows.sql). Migrations released in v0.2.0 are append-only: restore ${renamed}/000004_steps.sql (git tag v0.2.0 has it) and put any change in a new migration (000016_...).`,
  );
});

it("accepts and applies a new migration after the released ones", async () => {
  const current = readMigrations().map((m) => m.name); // sql/ may hold unreleased files already
  const dir = copyOf(current);
  const name = `${String(current.length + 1).padStart(6, "0")}_release_probe.sql`;
  fs.writeFileSync(
    path.join(dir, name),
    "create table baton_private.release_probe (id int);\ncomment on table baton_private.release_probe is 'A test table: a migration after the released ones.';\n",
  );
  assert.deepEqual(
    readMigrations(dir, RELEASED).map((m) => m.name),
    [...current, name],
  );
  assert.deepEqual(await migrate(runnerPool(), silentLogger, { dir, releases: RELEASED }), { applied: [name] });
});

/** Runs scripts/release-schema.js on a copy of the manifest. */
function release(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, "scripts", "release-schema.js"), ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

it("scripts/release-schema.js appends the files no release has, once, and refuses the rest", () => {
  const dir = copyOf(V020);
  const manifest = path.join(dir, "..", `${path.basename(dir)}.json`);
  fs.copyFileSync(MANIFEST, manifest);
  dirs.push(manifest);
  const on = ["--dir", dir, "--manifest", manifest];

  assert.deepEqual(release(["v0.2.0", ...on]), { status: 1, stdout: "", stderr: "v0.2.0 is already released (15 migrations). A release is never changed: name the next version." });
  assert.deepEqual(release(["v0.3.0", ...on]), { status: 1, stdout: "", stderr: "Every migration is already released (the last in v0.2.0): there is nothing to release in v0.3.0." });
  assert.deepEqual(release(["0.3", ...on]), { status: 1, stdout: "", stderr: "0.3 is not a release name: use vX.Y.Z, e.g. v0.3.0." });

  const sql = "select 1;\n";
  fs.writeFileSync(path.join(dir, "000016_next_thing.sql"), sql);
  const ok = release(["v0.3.0", ...on]);
  assert.equal(ok.stderr, "");
  assert.equal(ok.status, 0);
  assert.match(ok.stdout, /^Released 000016_next_thing\.sql in v0\.3\.0 \(/);
  const written = JSON.parse(fs.readFileSync(manifest, "utf8")) as Record<string, Record<string, string>>;
  assert.deepEqual(Object.keys(written), ["v0.2.0", "v0.3.0"]);
  assert.deepEqual(written["v0.2.0"], RELEASED["v0.2.0"]);
  assert.deepEqual(written["v0.3.0"], { "000016_next_thing.sql": checksumOf(sql) });

  assert.deepEqual(release(["v0.3.0", ...on]), { status: 1, stdout: "", stderr: "v0.3.0 is already released (1 migration). A release is never changed: name the next version." });
  assert.deepEqual(release(["v0.2.9", ...on]), { status: 1, stdout: "", stderr: "v0.2.9 is not after the latest release v0.3.0: name a later version." });
  fs.appendFileSync(path.join(dir, "000016_next_thing.sql"), "-- edited\n");
  fs.writeFileSync(path.join(dir, "000017_later.sql"), sql);
  assert.deepEqual(release(["v0.4.0", ...on]), {
    status: 1,
    stdout: "",
    stderr: `${dir}/000016_next_thing.sql was edited after its release in v0.3.0. Migrations released in v0.3.0 are append-only: revert ${dir}/000016_next_thing.sql (git tag v0.3.0 has it) and put the change in a new migration (000018_...).`,
  });
});
