/*
 * `baton worker` and `baton server` as child processes (node bin/baton.js worker|server, with
 * DATABASE_URL and BATON_* variables), as they run in production. Owns starting one, waiting until it
 * is up, sampling its resident memory, and stopping it: every child is killed when the bench exits,
 * however it exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const BIN = path.join(__dirname, "..", "bin", "baton.js");
/** BATON_WORKER_CONCURRENCY of every `baton worker` the scenarios start (BENCH_WORKER_CONCURRENCY overrides it, for profiling). */
export const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY) || 8;
const children = new Set<ChildProcess>();

/** SIGKILLs every child still running (for exit and signal handlers; synchronous). */
export function killAllWorkers(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
  children.clear();
}
process.on("exit", killAllWorkers);

export type WorkerProcess = {
  pid: number;
  /** Resident set size now, in MB. */
  rssMb(): number;
  /** Peak resident set size so far, in MB (VmHWM, else the largest sample). */
  peakRssMb(): number;
  /** What it logged at warn or error level (anything unexpected), one line each: "level: message". */
  problems(): string[];
  stop(): Promise<void>;
};

function readRssKb(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return undefined;
  }
}

function summarize(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: string; msg?: string };
    return `${entry.level}: ${String(entry.msg).split("\n")[0]!.slice(0, 160)}`;
  } catch {
    return line.slice(0, 160);
  }
}

/** Problems of several workers grouped (numbers masked), most frequent first, e.g. "7 x error: Failed task # (dispatch_step, ...) with error 'deadlock detected'". */
export function groupProblems(workers: WorkerProcess[]): { count: number; lines: string[] } {
  const groups = new Map<string, number>();
  for (const w of workers) {
    for (const p of w.problems()) {
      const key = p.replace(/\d+(\.\d+)?/g, "#");
      groups.set(key, (groups.get(key) ?? 0) + 1);
    }
  }
  const lines = [...groups].sort((a, b) => b[1] - a[1]).map(([p, n]) => `${n} x ${p}`);
  return { count: [...groups.values()].reduce((a, b) => a + b, 0), lines };
}

export async function startWorkerProcess(url: string, concurrency: number, opts: { readyTimeoutMs?: number } = {}): Promise<WorkerProcess> {
  return startBatonProcess("worker", { DATABASE_URL: url, BATON_WORKER_CONCURRENCY: String(concurrency) }, "baton worker running", opts.readyTimeoutMs);
}

export type ServerProcess = WorkerProcess & { graphqlUrl: string };

/**
 * `baton server` on a free port of 127.0.0.1 with the bench's JWT secret (so the bench mints owner
 * tokens the server accepts). worker: its in-process graphile-worker runner (as `npm start` runs),
 * or off (API only, beside `baton worker` children).
 */
export async function startServerProcess(
  url: string,
  opts: { jwtSecret: string; port: number; worker: boolean; concurrency?: number; dataDir: string; env?: Record<string, string> },
): Promise<ServerProcess> {
  const p = await startBatonProcess(
    "server",
    {
      DATABASE_URL: url,
      BATON_HOST: "127.0.0.1",
      BATON_PORT: String(opts.port),
      BATON_JWT_SECRET: opts.jwtSecret,
      BATON_DATA_DIR: opts.dataDir,
      BATON_WORKER: opts.worker ? "on" : "off",
      BATON_WORKER_CONCURRENCY: String(opts.concurrency ?? WORKER_CONCURRENCY),
      ...opts.env,
    },
    "baton server listening",
  );
  return { ...p, graphqlUrl: `http://127.0.0.1:${opts.port}/graphql` };
}

async function startBatonProcess(command: "worker" | "server", env: Record<string, string>, readyMessage: string, readyTimeoutMs?: number): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [BIN, command], {
    env: { ...process.env, ...env, BATON_LOG_LEVEL: "info" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.add(child);
  const pid = child.pid!;
  const tail: string[] = [];
  const problems: string[] = [];
  let peakKb = 0;
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  let buffered = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (line.includes(readyMessage)) ready();
      else if (/"level":"(warn|error)"/.test(line) || !line.startsWith("{")) problems.push(summarize(line));
    }
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const sampler = setInterval(() => {
    const s = readRssKb(pid);
    if (s) peakKb = Math.max(peakKb, s.rss, s.hwm);
  }, 200);
  sampler.unref();

  const timeout = readyTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    isReady.then(() => "ready" as const),
    exited.then(() => "exited" as const),
    new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeout))),
  ]);
  clearTimeout(timer);
  if (outcome !== "ready") {
    clearInterval(sampler);
    child.kill("SIGKILL");
    children.delete(child);
    const how = outcome === "exited" ? `exited (${child.exitCode ?? child.signalCode})` : `was not ready after ${timeout} ms`;
    throw new Error(`baton ${command} (pid ${pid}) ${how}; its last lines:\n${[...tail, buffered].join("\n")}`);
  }

  return {
    pid,
    rssMb: () => (readRssKb(pid)?.rss ?? NaN) / 1024,
    peakRssMb() {
      const s = readRssKb(pid);
      if (s) peakKb = Math.max(peakKb, s.rss, s.hwm);
      return peakKb / 1024;
    },
    problems: () => problems,
    async stop() {
      const s = readRssKb(pid);
      if (s) peakKb = Math.max(peakKb, s.rss, s.hwm);
      clearInterval(sampler);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(killer);
      }
      children.delete(child);
    },
  };
}

/** The bench's live baton children, for attributing database connections (bench/profile.ts). */
export function liveChildren(): { pid: number; name: string }[] {
  return [...children].filter((c) => c.exitCode === null && c.pid).map((c) => ({ pid: c.pid!, name: `baton ${c.spawnargs[2] ?? "?"}` }));
}
