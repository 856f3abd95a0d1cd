/*
 * chain: a linear directive (500 steps; 100 with --quick) run by `baton server` (its worker inside,
 * concurrency 4, as `npm start` runs) and one fake daemon that completes each task on arrival through
 * the API. A hop is a `completed` report sent -> the next step's spawn_task received over the
 * daemon's daemonCommands websocket. Judged against the hop scenario's baselines from the same run.
 * runChain is shared with the fsync variant.
 */
import { analyze, startApi } from "../api-server";
import type { BenchContext } from "../context";
import { lastEventId, reportTransactionsMs } from "../report-transaction";
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

export type ChainResult = { steps: number; hops: number[]; seconds: number; parts: { report: number[]; pickup: number[]; create: number[] }; reportTx?: number[] };

export async function runChain(ctx: BenchContext, steps: number, window: string): Promise<ChainResult> {
  const { url, pool } = await ctx.freshDatabase();
  const owner = await createOwner(pool);
  const d = await createDirective(pool, owner, "chain", chainSteps(steps));
  const api = await startApi(url, pool, { worker: true, concurrency: 4 });
  let daemons: FakeDaemons | undefined;
  try {
    daemons = await FakeDaemons.start(pool, { graphqlUrl: api.graphqlUrl, ownerToken: await api.ownerToken(owner), count: 1, maxTasks: 4, autoComplete: true });
    await analyze(pool);
    const since = await lastEventId(pool);
    await ctx.profile.begin(window);
    const begin = nowMs();
    await pool.query("select baton.start_directive($1)", [d.id]);
    await daemons.until(() => daemons!.completed === steps, 120_000, `the ${steps}-step chain`);
    await ctx.profile.end(steps);
    await daemons.resolveSteps(pool);
    const records = [...daemons.records.values()];
    return {
      steps,
      seconds: (Math.max(...records.map((r) => r.reportAckAt!)) - begin) / 1000,
      hops: hopsOf(records, d.deps),
      parts: await breakdown(pool, records, d.deps),
      reportTx: await reportTransactionsMs(pool, since),
    };
  } finally {
    await daemons?.stop();
    await api.stop();
  }
}

/** The issue-10 target of the chain's hop: p50 at most twice the bare graphile-worker hop's. */
export const HOP_RATIO_TARGET = 2.0;
/** The issue-10 target of the completion report's transaction, p50. */
export const REPORT_TX_TARGET_MS = 1.5;

export async function chainScenario(ctx: BenchContext): Promise<void> {
  const baselines = await hopBaselines(ctx);
  const steps = hopSamples(ctx);
  ctx.log(`chain: a ${steps}-step linear directive, baton server (worker inside), one fake daemon through the API`);
  const { hops, seconds, parts, reportTx } = await runChain(ctx, steps, "chain");
  const p50 = percentile(hops, 50);
  const p99 = percentile(hops, 99);
  const bare50 = percentile(baselines.bare, 50);
  ctx.figure({ scenario: "chain", name: `hop (${steps} steps), p50`, value: round(p50), unit: "ms", target: "<= 5", met: p50 <= 5 });
  ctx.figure({ scenario: "chain", name: `hop (${steps} steps), p99`, value: round(p99), unit: "ms", target: "<= 25", met: p99 <= 25 });
  ctx.figure({ scenario: "chain", name: "steps/s (start -> last completion)", value: round(steps / seconds, 1), unit: "steps/s" });
  ctx.figure({ scenario: "chain", name: "hop p50 / bare graphile-worker hop p50", value: round(p50 / bare50), unit: "ratio", target: `<= ${HOP_RATIO_TARGET}`, met: p50 / bare50 <= HOP_RATIO_TARGET });
  if (!reportTx) ctx.log("  chain: no report transaction figure: track_commit_timestamp is off on this server");
  if (reportTx?.length) {
    const tx50 = percentile(reportTx, 50);
    ctx.figure({ scenario: "chain", name: "report transaction (BEGIN -> commit in PostgreSQL), p50", value: round(tx50, 3), unit: "ms", target: `<= ${REPORT_TX_TARGET_MS}`, met: tx50 <= REPORT_TX_TARGET_MS });
    ctx.figure({ scenario: "chain", name: "report transaction, p99", value: round(percentile(reportTx, 99), 3), unit: "ms" });
  }
  ctx.figure({ scenario: "chain", name: "  hop part 1, p50: the completed report's round trip (HTTP, GraphQL, transaction)", value: round(percentile(parts.report, 50)), unit: "ms" });
  ctx.figure({ scenario: "chain", name: "  hop part 2, p50: its return -> the worker's create_execution_task starts", value: round(percentile(parts.pickup, 50)), unit: "ms" });
  ctx.figure({ scenario: "chain", name: "  hop part 3, p50: create_execution_task starts -> spawn_task received", value: round(percentile(parts.create, 50)), unit: "ms" });
  ctx.figure({ scenario: "chain", name: "hop p50 / floor p50", value: round(p50 / percentile(baselines.floor, 50)), unit: "ratio" });
}
