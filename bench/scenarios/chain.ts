/*
 * chain: a linear directive (500 steps; 100 with --quick) run by one fake daemon that completes each
 * task on arrival, with the worker in this process (as the bare graphile-worker baseline runs).
 * A hop is a `completed` report sent -> the next step's spawn_task received. Judged against the
 * hop scenario's baselines from the same run.
 */
import { silentLogger } from "../../src/logger";
import { startWorker } from "../../src/worker";
import type { BenchContext } from "../context";
import type { Pool } from "pg";
import { FakeDaemons, type TaskRecord } from "../fake-daemons";
import { hopsOf } from "../hops";
import { chainSteps, createDirective, createOwner } from "../shapes";
import { nowMs, percentile, round } from "../stats";
import { hopBaselines, hopSamples } from "./hop";

/**
 * Where a hop's time goes, from the bench's clock and the task's created_at (the start of the
 * transaction that creates and assigns it; same machine, same clock): the report's round trip; from
 * its commit until the worker, having picked up dispatch_step and read the step, starts creating the
 * task; and from there until the spawn_task arrives.
 */
async function breakdown(pool: Pool, records: TaskRecord[], deps: Map<string, string[]>): Promise<{ report: number[]; pickup: number[]; create: number[] }> {
  const r = await pool.query<{ id: string; created_ms: number }>("select id, extract(epoch from created_at) * 1000 as created_ms from baton.tasks");
  const created = new Map(r.rows.map((x) => [x.id, Number(x.created_ms)]));
  const byStep = new Map(records.map((x) => [x.stepId!, x]));
  const out = { report: [] as number[], pickup: [] as number[], create: [] as number[] };
  for (const rec of records) {
    const parent = byStep.get(deps.get(rec.stepId!)?.[0] ?? "");
    const at = created.get(rec.taskId);
    if (!parent || at === undefined) continue;
    out.report.push(parent.reportAckAt! - parent.reportSentAt!);
    out.pickup.push(at - parent.reportAckAt!);
    out.create.push(rec.receivedAt - at);
  }
  return out;
}

export async function chainScenario(ctx: BenchContext): Promise<void> {
  const baselines = await hopBaselines(ctx);
  const steps = hopSamples(ctx);
  const { url, pool } = await ctx.freshDatabase();
  ctx.log(`chain: a ${steps}-step linear directive, worker in process, one fake daemon`);
  const owner = await createOwner(pool);
  const d = await createDirective(pool, owner, "chain", chainSteps(steps));
  const daemons = await FakeDaemons.start(url, pool, { owner, count: 1, maxTasks: 4, autoComplete: true });
  const runner = await startWorker(pool, { concurrency: 4, logger: silentLogger });
  let hops: number[];
  let seconds: number;
  let parts: { report: number[]; pickup: number[]; create: number[] };
  try {
    const begin = nowMs();
    await pool.query("select baton.start_directive($1)", [d.id]);
    await daemons.until(() => daemons.completed === steps, 120_000, `the ${steps}-step chain`);
    const records = [...daemons.records.values()];
    seconds = (Math.max(...records.map((r) => r.reportAckAt!)) - begin) / 1000;
    hops = hopsOf(records, d.deps);
    parts = await breakdown(pool, records, d.deps);
  } finally {
    await runner.stop();
    await daemons.stop();
  }
  const p50 = percentile(hops, 50);
  const p99 = percentile(hops, 99);
  const bare50 = percentile(baselines.bare, 50);
  ctx.figure({ scenario: "chain", name: `hop (${steps} steps), p50`, value: round(p50), unit: "ms", target: "<= 5", met: p50 <= 5 });
  ctx.figure({ scenario: "chain", name: `hop (${steps} steps), p99`, value: round(p99), unit: "ms", target: "<= 25", met: p99 <= 25 });
  ctx.figure({ scenario: "chain", name: "steps/s (start -> last completion)", value: round(steps / seconds, 1), unit: "steps/s" });
  ctx.figure({ scenario: "chain", name: "hop p50 / bare graphile-worker hop p50", value: round(p50 / bare50), unit: "ratio", target: "<= 2.5", met: p50 / bare50 <= 2.5 });
  ctx.figure({ scenario: "chain", name: "  hop part 1, p50: the completed report's transaction", value: round(percentile(parts.report, 50)), unit: "ms" });
  ctx.figure({ scenario: "chain", name: "  hop part 2, p50: commit -> the worker's create_execution_task starts", value: round(percentile(parts.pickup, 50)), unit: "ms" });
  ctx.figure({ scenario: "chain", name: "  hop part 3, p50: create_execution_task starts -> spawn_task received", value: round(percentile(parts.create, 50)), unit: "ms" });
  ctx.figure({ scenario: "chain", name: "hop p50 / floor p50", value: round(p50 / percentile(baselines.floor, 50)), unit: "ratio" });
}
