/*
 * A throw-away cluster of the machine's own PostgreSQL (default: /usr/lib/postgresql/15), for tests
 * that must hold on a server other than the embedded one. Its superuser is not called `postgres`, so
 * whatever such a test checks also holds for another login name. PostgreSQL refuses root, so as root
 * initdb and pg_ctl run as the OS user `postgres`.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../src/db/embedded";

const run = promisify(execFile);

export const SYSTEM_PG_BIN = process.env.BATON_TEST_PG15_BIN ?? "/usr/lib/postgresql/15/bin";

export type SystemPostgres = { url: string; superuser: string; stop: () => Promise<void> };

export function systemPostgresAvailable(bin = SYSTEM_PG_BIN): boolean {
  return fs.existsSync(path.join(bin, "initdb")) && fs.existsSync(path.join(bin, "pg_ctl"));
}

async function osUser(name: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run("id", ["-u", name]), run("id", ["-g", name])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export async function startSystemPostgres(options: { bin?: string; superuser?: string } = {}): Promise<SystemPostgres> {
  const bin = options.bin ?? SYSTEM_PG_BIN;
  const superuser = options.superuser ?? "baton_dba";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-syspg-"));
  const asUser = process.getuid?.() === 0 ? await osUser("postgres") : undefined;
  fs.chmodSync(dir, 0o755);
  if (asUser) fs.chownSync(dir, asUser.uid, asUser.gid);
  const exec = (file: string, args: string[]) => run(path.join(bin, file), args, { ...(asUser ?? {}), cwd: dir, env: { PATH: process.env.PATH ?? "", LC_ALL: "C" } });
  const data = path.join(dir, "pg");
  const port = await freePort();
  try {
    await exec("initdb", ["-D", data, "-U", superuser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]);
    const flags = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
    await exec("pg_ctl", ["-D", data, "-o", flags, "-l", path.join(dir, "log"), "-w", "-t", "60", "start"]);
  } catch (err) {
    const log = fs.existsSync(path.join(dir, "log")) ? fs.readFileSync(path.join(dir, "log"), "utf8") : "";
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL from ${bin} did not start: ${(err as Error).message}\n${log}`);
  }
  let stopped = false;
  return {
    url: `postgres://${superuser}@127.0.0.1:${port}/postgres`,
    superuser,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
