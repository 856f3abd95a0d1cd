/*
 * The migration files of sql/, read and checked before anything touches the database: every file is
 * named NNNNNN_lowercase_words.sql, numbers start at 000001 and run without duplicates or gaps.
 * A gap is an error because it nearly always means a file was lost, renamed or half-merged, and the
 * runner compares applied migrations with the files by number.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const SQL_DIR = path.join(__dirname, "..", "..", "sql");
export const MIGRATION_NAME = /^(\d{6})_[a-z0-9]+(?:_[a-z0-9]+)*\.sql$/;
const PATTERN_HELP = "NNNNNN_lowercase_words.sql (six digits, an underscore, lowercase words joined by underscores, e.g. 000025_task_labels.sql)";

export type Migration = { name: string; number: number; sql: string; checksum: string };

/** Errors of the migration runner; `kind` says which check refused. */
export class MigrationError extends Error {
  constructor(
    readonly kind: "misnamed" | "duplicate" | "gap" | "missing" | "changed" | "newer_database" | "failed",
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

export function readMigrations(dir = SQL_DIR): Migration[] {
  const entries = fs.readdirSync(dir).filter((f) => !f.startsWith(".")); // editors' hidden swap files
  for (const f of entries.sort()) {
    if (!MIGRATION_NAME.test(f) || !fs.statSync(path.join(dir, f)).isFile()) {
      throw new MigrationError("misnamed", `${fileLabel(dir, f)} is not a migration: every file in ${fileLabel(dir, "")} is named ${PATTERN_HELP}. Rename it, or move it out of that directory.`);
    }
  }
  const migrations = entries.sort().map((name) => {
    const sql = fs.readFileSync(path.join(dir, name), "utf8");
    return { name, number: numberOf(name), sql, checksum: createHash("sha256").update(sql).digest("hex") };
  });
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
