/*
 * End-to-end tests: real processes only. A `baton server` process on the file's test database, `baton
 * daemon run` processes, the `baton` CLI (node bin/baton.js) run once per command, and a git
 * repository made by the test. Every child process and temp directory is removed after the file,
 * before its database is dropped (useE2E owns both, so the order is certain).
 *
 * BATON_E2E_LOG=1 copies every child's stderr to the test's stderr as it arrives; without it, a
 * timeout in waitForE2E ends with the tail of each process's log.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { createTestDatabase, dropTestDatabase, type TestDb } from "./db";
import { waitFor } from "./wait";

const ROOT = path.join(__dirname, "..", "..");
export const BATON_BIN = path.join(ROOT, "bin", "baton.js");
export const EXAMPLE_AGENT = path.join(ROOT, "examples", "agent.js");

export type CliResult = { code: number; stdout: string; stderr: string };

export type Proc = { label: string; child: ChildProcess; log: string[]; exited: Promise<number | null> };

/** What a file's tests share: its database, its temp directories and its processes. */
export class E2E {
  db = {} as TestDb;
  private readonly procs = new Set<Proc>();
  private readonly history: Proc[] = [];
  private readonly dirs: string[] = [];

  tempDir(prefix: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `baton-e2e-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** Starts a child whose stderr (and stdout) is kept for diagnostics; killed after the file. */
  spawn(label: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Proc {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const log: string[] = [];
    const keep = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      log.push(text);
      if (log.length > 400) log.splice(0, log.length - 400);
      if (process.env.BATON_E2E_LOG) process.stderr.write(text.replace(/^(?=.)/gm, `[${label}] `));
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))));
    const proc = { label, child, log, exited };
    this.procs.add(proc);
    this.history.push(proc);
    void exited.then(() => this.procs.delete(proc));
    return proc;
  }

  /** The last lines of every live or recently ended process's log, for a failure message. */
  logTails(lines = 15): string {
    return this.history
      .map((p) => `--- ${p.label} (pid ${p.child.pid}${this.procs.has(p) ? "" : ", ended"}) ---\n${p.log.join("").split("\n").slice(-lines).join("\n")}`)
      .join("\n");
  }

  async cleanup(): Promise<void> {
    // Daemons first, with SIGTERM, so they interrupt their agents (each in its own process group) while
    // the server still answers; then the rest. SIGKILL whatever is still there after 8 s.
    const stop = async (procs: Proc[]) => {
      for (const p of procs) p.child.kill("SIGTERM");
      await Promise.all(procs.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 8000))])));
      for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    };
    const live = [...this.procs];
    await stop(live.filter((p) => p.label.startsWith("daemon")));
    await stop(live.filter((p) => !p.label.startsWith("daemon")));
    for (const dir of this.dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A database, processes and temp dirs for this test file; all removed after its tests. */
export function useE2E(): E2E {
  const e2e = new E2E();
  before(async () => {
    e2e.db = await createTestDatabase();
  });
  after(async () => {
    await e2e.cleanup();
    await dropTestDatabase(e2e.db);
  });
  return e2e;
}

/** The environment of every child: this process's, minus anything Baton would read from it. */
export function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("BATON_") && k !== "DATABASE_URL") env[k] = v;
  return env;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * waitFor, with every process's log tail in the timeout message. `unless` (a process that must stay
 * up meanwhile) ends the wait at once when that process exits.
 */
export async function waitForE2E<T>(
  e2e: E2E,
  what: string,
  fn: () => Promise<T> | T,
  opts: { timeoutMs?: number; unless?: Proc } = {},
): Promise<Exclude<T, undefined | null | false | 0 | "">> {
  let done = false;
  try {
    const waiting = waitFor(() => (done ? true : fn()), { what, timeoutMs: opts.timeoutMs ?? 45_000, intervalMs: 100 }) as Promise<Exclude<T, undefined | null | false | 0 | "">>;
    if (!opts.unless) return await waiting;
    const { label, exited } = opts.unless;
    return await Promise.race([
      waiting,
      exited.then((code) => Promise.reject(new Error(`${label} exited (${code}) while waiting for ${what}`))),
    ]) as Exclude<T, undefined | null | false | 0 | "">;
  } catch (err) {
    (err as Error).message += `\n${e2e.logTails()}`;
    throw err;
  } finally {
    done = true; // stops the losing poll
  }
}

export type ServerProcess = {
  port: number;
  url: string;
  dataDir: string;
  /** The environment a CLI or daemon on this machine needs: BATON_DATA_DIR, whose credentials.json names the API and a token. */
  env: NodeJS.ProcessEnv;
  proc: Proc;
  /** SIGTERM (a clean shutdown) and wait for the exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** Starts it again on the same database, port and data dir. */
  restart(): Promise<void>;
};

/** `baton server` on the test database, on a free port, with a temp data dir; resolves when /healthz answers 200. */
/** `env`: more of the server's environment, e.g. BATON_SWEEP_MS. */
export async function startServer(e2e: E2E, opts: { leaseSeconds?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = e2e.tempDir("data");
  const serverEnv = {
    ...baseEnv(),
    DATABASE_URL: e2e.db.url,
    BATON_PORT: String(port),
    BATON_DATA_DIR: dataDir,
    BATON_LOG_LEVEL: "warn",
    BATON_WORKER_CONCURRENCY: "4",
    ...(opts.leaseSeconds ? { BATON_DAEMON_LEASE_SECONDS: String(opts.leaseSeconds) } : {}),
    ...opts.env,
  };
  const url = `http://127.0.0.1:${port}`;
  const credentials = path.join(dataDir, "credentials.json");
  const boot = async (): Promise<Proc> => {
    fs.rmSync(credentials, { force: true });
    const proc = e2e.spawn(`server:${port}`, [BATON_BIN, "server"], serverEnv);
    await waitForE2E(
      e2e,
      `the server on port ${port} to answer /healthz`,
      async () => {
        const res = await fetch(`${url}/healthz`).catch(() => undefined);
        return res?.status === 200 && fs.existsSync(credentials);
      },
      { timeoutMs: 90_000, unless: proc },
    );
    return proc;
  };
  const server: ServerProcess = {
    port,
    url,
    dataDir,
    env: { ...baseEnv(), BATON_DATA_DIR: dataDir },
    proc: await boot(),
    async stop() {
      server.proc.child.kill("SIGTERM");
      return server.proc.exited;
    },
    async restart() {
      server.proc = await boot();
    },
  };
  return server;
}

/** Runs `baton ARGS` to its end. stdin gets `input` (or is closed at once). */
export function cli(args: string[], opts: { env: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BATON_BIN, ...args], { cwd: opts.cwd ?? ROOT, env: opts.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (t: string) => (stdout += t));
    child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`baton ${args.join(" ")} did not finish in ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

/** Runs `baton ARGS`, which must exit 0, and returns its stdout. */
export async function cliOk(args: string[], opts: Parameters<typeof cli>[1]): Promise<string> {
  const r = await cli(args, opts);
  if (r.code !== 0) throw new Error(`baton ${args.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** Runs `baton ARGS --json` (ARGS as they are if they have --json already: batch-add-steps --json STEPS), which must exit 0, and parses its stdout. */
export async function cliJson<T = any>(args: string[], opts: Parameters<typeof cli>[1]): Promise<T> {
  const stdout = await cliOk(args.includes("--json") ? args : [...args, "--json"], opts);
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new Error(`baton ${args.join(" ")} --json printed something that is not JSON:\n${stdout}`);
  }
}

export type DaemonProcess = { id: string; name: string; workDir: string; proc: Proc; stop(): Promise<number | null>; kill(): Promise<number | null> };

let daemonCount = 0;

/**
 * `baton daemon run` against the server, registered with the local owner's token from credentials.json;
 * resolves once its row is connected. Heartbeats every 500 ms so that short leases hold.
 */
export async function startDaemon(
  e2e: E2E,
  server: ServerProcess,
  opts: { agentCommand?: string; maxTasks?: number; env?: NodeJS.ProcessEnv; name?: string; workDir?: string; args?: string[] },
): Promise<DaemonProcess> {
  const name = opts.name ?? `e2e-daemon-${process.pid}-${++daemonCount}`;
  const workDir = opts.workDir ?? e2e.tempDir("work"); // the same work dir again: a restart
  // Without agentCommand, opts.args names the agent (--agent claude).
  const args = [BATON_BIN, "daemon", "run", ...(opts.agentCommand === undefined ? [] : ["--agent-command", opts.agentCommand]), "--max-tasks", String(opts.maxTasks ?? 2), "--work-dir", workDir, "--name", name, "--grace", "2", ...(opts.args ?? [])];
  // Agents get an allow-listed environment: the test's own variables (E2E_MARKS, ...) are passed by name.
  for (const key of Object.keys(opts.env ?? {})) if (!key.startsWith("BATON_")) args.push("--agent-env", key);
  const proc = e2e.spawn(`daemon:${name}`, args, { ...server.env, BATON_HEARTBEAT_MS: "500", BATON_LOG_LEVEL: "info", ...opts.env });
  const id = await waitForE2E(
    e2e,
    `daemon ${name} to register`,
    async () => {
      const r = await e2e.db.pool.query<{ id: string }>("select id from baton.daemons where name = $1 and status = 'connected'", [name]);
      return r.rows[0]?.id;
    },
    { timeoutMs: 60_000, unless: proc },
  );
  return {
    id,
    name,
    workDir,
    proc,
    async stop() {
      proc.child.kill("SIGTERM");
      return proc.exited;
    },
    async kill() {
      proc.child.kill("SIGKILL");
      return proc.exited;
    },
  };
}

/** git in `dir`; returns trimmed stdout. */
export function git(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-C", dir, "-c", "user.name=E2E", "-c", "user.email=e2e@localhost", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** True when `git merge-base --is-ancestor a b` says a is an ancestor of b. */
export function isAncestor(dir: string, a: string, b: string): boolean {
  try {
    git(dir, "merge-base", "--is-ancestor", a, b);
    return true;
  } catch {
    return false;
  }
}

/** A new repository with one commit on main. */
export function makeRepo(e2e: E2E): string {
  const dir = e2e.tempDir("repo");
  git(dir, "init", "--quiet", "--initial-branch=main");
  fs.writeFileSync(path.join(dir, "README.md"), "# E2E\n");
  git(dir, "add", "README.md");
  git(dir, "commit", "--quiet", "-m", "initial commit");
  return dir;
}

/** Writes an executable agent script and returns the --agent-command that runs it. */
export function writeAgent(e2e: E2E, script: string, name = "agent.sh"): string {
  const dir = e2e.tempDir("agent");
  const file = path.join(dir, name);
  fs.writeFileSync(file, script, { mode: 0o755 });
  return `${name.endsWith(".js") ? JSON.stringify(process.execPath) : "sh"} ${JSON.stringify(file)}`;
}

/** Row counts of the tables a failed step command must leave alone. */
export async function stepRowCounts(db: TestDb): Promise<{ steps: number; dependencies: number }> {
  const r = await db.pool.query<{ steps: number; dependencies: number }>(
    "select (select count(*) from baton.directive_steps)::int as steps, (select count(*) from baton.step_dependencies)::int as dependencies",
  );
  return r.rows[0]!;
}

/** Is a process with this pid alive? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
