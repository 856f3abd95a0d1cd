/*
 * `npm run bench`: every scenario measured beside its baselines in the same run (absolute times on
 * shared machines drift), printed as a table and written to bench/results/<timestamp>.json.
 * Uses DATABASE_URL's server when set, else a throw-away embedded PostgreSQL (bench/postgres.ts).
 * `--quick` runs smaller sizes (CI runs it so the bench never rots); a missed target never fails a run,
 * only a broken scenario does. `--profile` (or BENCH_PROFILE=1) adds pg_stat_statements and
 * per-backend CPU for each scenario's measured window (bench/profile.ts).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createContext, type BenchContext, type Figure } from "./context";
import { startBenchPostgres } from "./postgres";
import { Profiler } from "./profile";
import { round } from "./stats";
import { chainScenario } from "./scenarios/chain";
import { daemonsScenario } from "./scenarios/daemons";
import { fanoutScenario } from "./scenarios/fanout";
import { fanoutBesideChainScenario } from "./scenarios/fanout-chain";
import { fairScenario } from "./scenarios/fair";
import { fsyncScenario } from "./scenarios/fsync";
import { hopScenario } from "./scenarios/hop";
import { manyFullScenario, manyScenario } from "./scenarios/many";
import { scaleOutScenario } from "./scenarios/scale-out";
import { sizeScenario } from "./scenarios/size";
import { killAllWorkers } from "./worker-process";

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<void>> = {
  hop: hopScenario,
  chain: chainScenario,
  fanout: fanoutScenario,
  "fanout-chain": fanoutBesideChainScenario,
  fair: fairScenario,
  many: manyScenario,
  "scale-out": scaleOutScenario,
  "many-full": manyFullScenario,
  size: sizeScenario,
  fsync: fsyncScenario,
  daemons: daemonsScenario,
};

function printTable(figures: Figure[]): void {
  const rows = figures.map((f) => [f.scenario, f.name, `${f.value} ${f.unit}`, f.target ?? "", f.met === undefined ? "" : f.met ? "met" : "MISSED"]);
  const header = ["scenario", "figure", "value", "target", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  process.stdout.write([line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n") + "\n");
}

export async function main(argv: string[]): Promise<void> {
  const quick = argv.includes("--quick");
  const profile = argv.includes("--profile") || process.env.BENCH_PROFILE === "1";
  const only = argv.filter((a) => !a.startsWith("--"));
  const unknown = only.filter((s) => !(s in SCENARIOS));
  if (unknown.length) {
    process.stderr.write(`Unknown scenario ${unknown.join(", ")}; the scenarios are ${Object.keys(SCENARIOS).join(", ")}.\n`);
    process.exit(2);
  }
  let embedded: Awaited<ReturnType<typeof startBenchPostgres>> | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    embedded = await startBenchPostgres({ profile });
    adminUrl = embedded.adminUrl;
  }
  // Interrupted: no child worker and no embedded PostgreSQL outlives the bench.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAllWorkers();
      void Promise.race([embedded?.stop(), new Promise((r) => setTimeout(r, 5000))]).finally(() => process.exit(130));
    });
  }
  const figures: Figure[] = [];
  let profiler: Profiler | undefined;
  if (profile) {
    profiler = new Profiler(adminUrl);
    // With DATABASE_URL, the server must already preload pg_stat_statements.
    await profiler.init().catch((err: Error) => {
      process.stderr.write(`--profile: pg_stat_statements is not available (${err.message}); add it to shared_preload_libraries.\n`);
      process.exit(2);
    });
  }
  const ctx = createContext(adminUrl, quick, figures, profiler);
  const started = new Date();
  const t0 = Date.now();
  const loadBefore = os.loadavg()[0]!;
  const failed: { scenario: string; error: string }[] = [];
  try {
    for (const [name, scenario] of Object.entries(SCENARIOS)) {
      if (only.length && !only.includes(name)) continue;
      const s0 = Date.now();
      ctx.scenario = name;
      try {
        await scenario(ctx);
      } catch (err) {
        // One broken scenario does not hide the others' figures; the run still exits 1.
        const error = err instanceof Error ? err.message : String(err);
        failed.push({ scenario: name, error });
        process.stderr.write(`${name} FAILED: ${error}\n`);
      } finally {
        await ctx.profile.end().catch(() => undefined); // a window a failed scenario left open
        killAllWorkers();
      }
      ctx.log(`  (${name}: ${((Date.now() - s0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    killAllWorkers();
    await profiler?.close();
    await ctx.cleanup();
    await embedded?.stop();
  }
  printTable(figures);
  profiler?.print((s) => process.stdout.write(s));
  const dir = path.join(__dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${started.toISOString().replace(/[:.]/g, "-")}.json`);
  // The load average says how much else ran on the machine: figures of a busy run are not comparable.
  const load = { before: round(loadBefore), after: round(os.loadavg()[0]!) };
  const machine = { node: process.version, cpus: os.cpus().length, memory_gb: Math.round(os.totalmem() / 2 ** 30), load_average_1m: load };
  const seconds = Math.round((Date.now() - t0) / 1000);
  const missed = figures.filter((f) => f.met === false).map((f) => `${f.scenario}: ${f.name}`);
  fs.writeFileSync(file, JSON.stringify({ started: started.toISOString(), quick, seconds, machine, figures, missed, failed, ...(profiler ? { profile: profiler.reports } : {}) }, null, 2));
  for (const f of failed) process.stdout.write(`\n${f.scenario} FAILED: ${f.error}`);
  process.stdout.write(`\nTargets: ${figures.filter((f) => f.met === true).length} met, ${missed.length} missed (a missed target does not fail the run).`);
  process.stdout.write(`\n${quick ? "Quick run" : "Full run"} took ${seconds} s; 1-minute load average ${load.before} before, ${load.after} after (${machine.cpus} CPUs).`);
  process.stdout.write(`\nWritten to ${path.relative(process.cwd(), file)}\n`);
  process.exit(failed.length ? 1 : 0);
}
