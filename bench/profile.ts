/*
 * `npm run bench -- --profile` (or BENCH_PROFILE=1): per scenario, the statements that took the most
 * time (pg_stat_statements, track = all, so statements inside functions and triggers are listed too
 * and a function's own line includes theirs) and the CPU of each PostgreSQL backend, attributed to the
 * process at the other end of its connection (bench, server, worker) and its application_name.
 * A scenario marks its measured window (ctx.profile.begin / end); seeding outside it is not counted.
 * Backends are sampled every 500 ms, so a backend that exits loses its last half second at most.
 */
import fs from "node:fs";
import { Client } from "pg";
import { liveChildren } from "./worker-process";
import { round } from "./stats";

const TICK = 100;

export type StatementRow = { query: string; calls: number; total_ms: number; mean_ms: number; rows: number; toplevel: boolean };
export type BackendRow = { client: string; backends: number; cpu_ms: number; cpu_ms_per_step?: number };
export type ProfileReport = { scenario: string; window: string; seconds: number; steps?: number; statements: StatementRow[]; backends: BackendRow[] };

type Sample = { first: number; last: number; label: string };

function cpuTicks(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ").map(Number);
    return f[11]! + f[12]!;
  } catch {
    return undefined;
  }
}

/** Local TCP port -> socket inode, for connections on this machine. */
function portsToInodes(): Map<number, string> {
  const out = new Map<number, string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const port = parseInt(cols[1]!.split(":")[1]!, 16);
      out.set(port, cols[9]!);
    }
  }
  return out;
}

/** Socket inode -> the name of the process (of ours) holding it. */
function inodesToProcesses(): Map<string, string> {
  const out = new Map<string, string>();
  const procs = [{ pid: process.pid, name: "bench" }, ...liveChildren().map((c) => ({ pid: c.pid, name: c.name }))];
  for (const p of procs) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${p.pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${p.pid}/fd/${fd}`));
        if (m) out.set(m[1]!, p.name);
      } catch {
        // closed meanwhile
      }
    }
  }
  return out;
}

export class Profiler {
  readonly reports: ProfileReport[] = [];
  private admin: Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private samples = new Map<number, Sample>();
  private current: { scenario: string; window: string; started: number; databases: string[] } | undefined;
  private sampling: Promise<void> = Promise.resolve();

  constructor(private readonly adminUrl: string) {}

  async init(): Promise<void> {
    this.admin = new Client({ connectionString: this.adminUrl, application_name: "bench-profiler" });
    await this.admin.connect();
    await this.admin.query("create extension if not exists pg_stat_statements");
  }

  /** Starts a window on these databases: resets the statement statistics and starts sampling backends. */
  async begin(scenario: string, window: string, databases: string[]): Promise<void> {
    if (!this.admin) return;
    if (this.current) await this.end();
    await this.admin.query("select pg_stat_statements_reset()");
    this.samples.clear();
    this.current = { scenario, window, started: Date.now(), databases };
    await this.sample(true);
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    }, 500);
  }

  private async sample(initial = false): Promise<void> {
    if (!this.admin || !this.current) return;
    const r = await this.admin.query<{ pid: number; application_name: string; client_port: number | null; query: string; backend_type: string }>(
      "select pid, application_name, client_port, left(query, 60) as query, backend_type from pg_stat_activity where datname = any($1) and pid <> pg_backend_pid()",
      [this.current.databases],
    );
    const ports = portsToInodes();
    const owners = inodesToProcesses();
    for (const row of r.rows) {
      const ticks = cpuTicks(row.pid);
      if (ticks === undefined) continue;
      const inode = row.client_port ? ports.get(row.client_port) : undefined;
      const client = (inode && owners.get(inode)) ?? "other";
      const listen = /^\s*listen\b/i.test(row.query) ? " LISTEN" : "";
      const label = `${client} ${row.application_name || row.backend_type}${listen}`;
      const s = this.samples.get(row.pid);
      if (s) {
        s.last = ticks;
        s.label = label;
      } else {
        // Seen at the window's start: counted from there; opened inside the window: all of it.
        this.samples.set(row.pid, { first: initial ? ticks : 0, last: ticks, label });
      }
    }
  }

  /** Ends the window; steps (when given) adds CPU per step. */
  async end(steps?: number): Promise<void> {
    if (!this.admin || !this.current) return;
    clearInterval(this.timer);
    await this.sampling;
    await this.sample();
    const { scenario, window, started, databases } = this.current;
    this.current = undefined;
    const byLabel = new Map<string, { backends: number; ticks: number }>();
    for (const s of this.samples.values()) {
      const g = byLabel.get(s.label) ?? { backends: 0, ticks: 0 };
      g.backends++;
      g.ticks += s.last - s.first;
      byLabel.set(s.label, g);
    }
    const backends = [...byLabel]
      .map(([client, g]) => ({ client, backends: g.backends, cpu_ms: (g.ticks * 1000) / TICK, ...(steps ? { cpu_ms_per_step: round((g.ticks * 1000) / TICK / steps, 3) } : {}) }))
      .sort((a, b) => b.cpu_ms - a.cpu_ms);
    const st = await this.admin.query<StatementRow>(
      `select regexp_replace(left(query, 160), '\\s+', ' ', 'g') as query, calls::int, round(total_exec_time::numeric, 1)::float as total_ms,
              round(mean_exec_time::numeric, 3)::float as mean_ms, rows::int, toplevel
         from pg_stat_statements
        where dbid in (select oid from pg_database where datname = any($1))
        order by total_exec_time desc limit 15`,
      [databases],
    );
    this.reports.push({ scenario, window, seconds: round((Date.now() - started) / 1000, 1), ...(steps ? { steps } : {}), statements: st.rows, backends });
  }

  print(write: (s: string) => void): void {
    for (const r of this.reports) {
      write(`\nProfile: ${r.scenario}, ${r.window} (${r.seconds} s${r.steps ? `, ${r.steps} steps` : ""})\n`);
      write("  top statements by total time (pg_stat_statements, track = all; a function's time includes its statements'):\n");
      for (const s of r.statements) write(`    ${String(s.total_ms).padStart(9)} ms ${String(s.calls).padStart(7)} calls ${String(s.mean_ms).padStart(8)} ms/call ${s.toplevel ? "top   " : "nested"}  ${s.query}\n`);
      write("  PostgreSQL backend CPU by client (process, application_name):\n");
      for (const b of r.backends) write(`    ${String(b.cpu_ms).padStart(8)} ms${b.cpu_ms_per_step !== undefined ? ` (${b.cpu_ms_per_step} ms/step)` : ""}  ${b.backends} backend(s)  ${b.client}\n`);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.admin?.end().catch(() => undefined);
  }
}
