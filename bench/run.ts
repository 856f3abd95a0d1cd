/*
 * `npm run bench`: every scenario measured beside its baselines in the same run (absolute times on
 * shared machines drift), printed as a table and written to bench/results/<timestamp>.json.
 * Uses DATABASE_URL's server when set, else a throw-away embedded PostgreSQL. `--quick` runs smaller
 * sizes (CI runs it so the bench never rots).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "../src/db/embedded";
import { silentLogger } from "../src/logger";
import { createContext, type BenchContext, type Figure } from "./context";
import { hopScenario } from "./scenarios/hop";
import { sizeScenario } from "./scenarios/size";

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<void>> = {
  hop: hopScenario,
  size: sizeScenario,
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
  const only = argv.filter((a) => !a.startsWith("--"));
  const unknown = only.filter((s) => !(s in SCENARIOS));
  if (unknown.length) {
    process.stderr.write(`Unknown scenario ${unknown.join(", ")}; the scenarios are ${Object.keys(SCENARIOS).join(", ")}.\n`);
    process.exit(2);
  }
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    embedded = await startEmbeddedPostgres(fs.mkdtempSync(path.join(os.tmpdir(), "baton-bench-")), silentLogger, { persistent: false, database: "postgres" });
    adminUrl = embedded.adminUrl;
  }
  const figures: Figure[] = [];
  const ctx = createContext(adminUrl, quick, figures);
  const started = new Date();
  try {
    for (const [name, scenario] of Object.entries(SCENARIOS)) {
      if (only.length && !only.includes(name)) continue;
      await scenario(ctx);
    }
  } finally {
    await ctx.cleanup();
    await embedded?.stop();
  }
  printTable(figures);
  const dir = path.join(__dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${started.toISOString().replace(/[:.]/g, "-")}.json`);
  const machine = { node: process.version, cpus: os.cpus().length, memory_gb: Math.round(os.totalmem() / 2 ** 30) };
  fs.writeFileSync(file, JSON.stringify({ started: started.toISOString(), quick, machine, figures }, null, 2));
  process.stdout.write(`\nWritten to ${path.relative(process.cwd(), file)}\n`);
  process.exit(0);
}
