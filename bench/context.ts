/*
 * What every scenario gets: a fresh migrated database on the bench's cluster, and a way to report
 * figures. Scenarios create what they need through the public SQL functions.
 */
import { Client } from "pg";
import type { Pool } from "pg";
import { migrate } from "../src/db/migrate";
import { createPool } from "../src/db/pool";
import { silentLogger } from "../src/logger";
import type { Profiler } from "./profile";

export type Figure = { scenario: string; name: string; value: number; unit: string; target?: string; met?: boolean };

export type BenchContext = {
  quick: boolean;
  adminUrl: string;
  /** The scenario running now (set by run.ts). */
  scenario: string;
  /** With --profile: marks the measured window of the scenario (no-ops otherwise). */
  profile: { begin(window: string): Promise<void>; end(steps?: number): Promise<void> };
  /** A new migrated database (dropped at the end of the run). */
  freshDatabase(): Promise<{ url: string; pool: Pool }>;
  figure(f: Figure): void;
  log(line: string): void;
};

export function databaseUrl(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = "/" + name;
  return u.toString();
}

export function createContext(adminUrl: string, quick: boolean, figures: Figure[], profiler?: Profiler): BenchContext & { cleanup(): Promise<void> } {
  const created: { name: string; pool: Pool }[] = [];
  const ctx: BenchContext & { cleanup(): Promise<void> } = {
    quick,
    adminUrl,
    scenario: "",
    profile: {
      begin: async (window) => profiler?.begin(ctx.scenario, window, created.map((c) => c.name)),
      end: async (steps) => profiler?.end(steps),
    },
    async freshDatabase() {
      const name = `baton_bench_${process.pid}_${created.length}`;
      const admin = new Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`drop database if exists "${name}" with (force)`);
      await admin.query(`create database "${name}"`);
      await admin.end();
      const url = databaseUrl(adminUrl, name);
      const pool = createPool(url, silentLogger, 30);
      await migrate(pool, silentLogger);
      created.push({ name, pool });
      return { url, pool };
    },
    figure(f) {
      figures.push(f);
    },
    log(line) {
      process.stderr.write(line + "\n");
    },
    async cleanup() {
      const admin = new Client({ connectionString: adminUrl });
      await admin.connect();
      for (const c of created) {
        await c.pool.end().catch(() => undefined);
        await admin.query(`drop database if exists "${c.name}" with (force)`).catch(() => undefined);
      }
      await admin.end();
    },
  };
  return ctx;
}
