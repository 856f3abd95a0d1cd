/*
 * The migration files of sql/, read and checked before anything touches the database: every file is
 * named NNNNNN_lowercase_words.sql, numbers start at 000001 and run without duplicates or gaps.
 * A gap is an error because it nearly always means a file was lost, renamed or half-merged, and the
 * runner compares applied migrations with the files by number.
 *
 * Released files are append-only: ./released-migrations.json records, per release, the sha256 of each
 * file it shipped (`node scripts/release-schema.js vX.Y.Z` appends a release). A released file that
 * was edited, renamed or deleted is refused here, on every developer's first test run, instead of in
 * the databases of the users who applied the released file (the checksum check of ./migrate).
 * graphile-migrate keeps a hash in each committed file for the same reason; a manifest beside the
 * files keeps the released SQL byte for byte as it shipped.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import releasedJson from "./released-migrations.json";

export const SQL_DIR = path.join(__dirname, "..", "..", "sql");
export const MIGRATION_NAME = /^(\d{6})_[a-z0-9]+(?:_[a-z0-9]+)*\.sql$/;
const PATTERN_HELP = "NNNNNN_lowercase_words.sql (six digits, an underscore, lowercase words joined by underscores, e.g. 000025_task_labels.sql)";

export type Migration = { name: string; number: number; sql: string; checksum: string };

/** Release -> file name -> sha256 of the file as released: the shape of ./released-migrations.json. */
export const ReleasesSchema = z.record(
  z.string().regex(/^v\d+\.\d+\.\d+$/, "a release is named vX.Y.Z"),
  z.record(z.string().regex(MIGRATION_NAME, "a migration file name"), z.string().regex(/^[0-9a-f]{64}$/, "a sha256 in hex")),
);
export type Releases = z.infer<typeof ReleasesSchema>;
/** The releases of sql/, oldest first. */
export const RELEASED: Releases = (() => {
  const parsed = ReleasesSchema.safeParse(releasedJson);
  if (!parsed.success) throw new Error(`src/db/released-migrations.json is malformed (${z.prettifyError(parsed.error)}): restore it with git.`);
  return parsed.data;
})();

export const checksumOf = (sql: string): string => createHash("sha256").update(sql).digest("hex");

/** Errors of the migration runner; `kind` says which check refused. */
export class MigrationError extends Error {
  constructor(
    readonly kind: "misnamed" | "duplicate" | "gap" | "missing" | "changed" | "released" | "newer_database" | "failed",
    message: string,
  ) {
    super(message);
    this.name = "MigrationError";
  }
}

/** How a migration file is named in messages: `sql/000001_x.sql` for Baton's own directory. */
export function fileLabel(dir: string, name: string): string {
  return (path.resolve(dir) === SQL_DIR ? "sql" : dir.replace(/\/+$/, "")) + "/" + name;
}

export const numberOf = (name: string): number => Number(MIGRATION_NAME.exec(name)?.[1] ?? NaN);
const pad = (n: number) => String(n).padStart(6, "0");

/**
 * The files of `dir`, checked. `releases` are the files that must be there unchanged: Baton's own
 * releases for sql/, none for another directory unless given.
 */
export function readMigrations(dir = SQL_DIR, releases: Releases = path.resolve(dir) === SQL_DIR ? RELEASED : {}): Migration[] {
  const entries = fs.readdirSync(dir).filter((f) => !f.startsWith(".")); // editors' hidden swap files
  for (const f of entries.sort()) {
    if (!MIGRATION_NAME.test(f) || !fs.statSync(path.join(dir, f)).isFile()) {
      throw new MigrationError("misnamed", `${fileLabel(dir, f)} is not a migration: every file in ${fileLabel(dir, "")} is named ${PATTERN_HELP}. Rename it, or move it out of that directory.`);
    }
  }
  const migrations = entries.sort().map((name) => {
    const sql = fs.readFileSync(path.join(dir, name), "utf8");
    return { name, number: numberOf(name), sql, checksum: checksumOf(sql) };
  });
  checkReleased(dir, migrations, releases); // first: a deleted released file would otherwise read as a gap
  migrations.forEach((m, i) => {
    const before = migrations[i - 1];
    if (before && before.number === m.number) {
      throw new MigrationError(
        "duplicate",
        `${fileLabel(dir, before.name)} and ${fileLabel(dir, m.name)} have the same number ${pad(m.number)}. Each migration has its own number: renumber the newer one after the last (${pad(migrations[migrations.length - 1]!.number + 1)}).`,
      );
    }
    const expected = before ? before.number + 1 : 1;
    if (m.number !== expected) {
      throw new MigrationError(
        "gap",
        `${fileLabel(dir, m.name)} should be number ${pad(expected)}${before ? ` (it follows ${before.name})` : " (the first migration)"}. Migrations are numbered 000001, 000002, ... without gaps: renumber it.`,
      );
    }
  });
  return migrations;
}

/** Refuses a released file that is missing, renamed or edited, naming its release and the fix. */
function checkReleased(dir: string, migrations: Migration[], releases: Releases): void {
  const byName = new Map(migrations.map((m) => [m.name, m]));
  const released = Object.values(releases).flatMap((files) => Object.keys(files));
  const next = pad(Math.max(0, ...migrations.map((m) => m.number), ...released.map(numberOf)) + 1);
  for (const [version, files] of Object.entries(releases)) {
    const rule = `Migrations released in ${version} are append-only`;
    for (const [name, checksum] of Object.entries(files)) {
      const file = byName.get(name);
      const label = fileLabel(dir, name);
      if (!file) {
        const now = migrations.find((m) => m.number === numberOf(name));
        throw new MigrationError(
          "released",
          `${label} was released in ${version} but does not exist${now ? ` (number ${name.slice(0, 6)} is now ${now.name})` : ""}. ${rule}: restore ${label} (git tag ${version} has it) and put any change in a new migration (${next}_...).`,
        );
      }
      if (file.checksum !== checksum) {
        throw new MigrationError(
          "released",
          `${label} was edited after its release in ${version}. ${rule}: revert ${label} (git tag ${version} has it) and put the change in a new migration (${next}_...).`,
        );
      }
    }
  }
}
