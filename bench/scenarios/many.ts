/*
 * many: 200 directives x 25 steps (50 with --quick), half chains and half diamonds, started at once,
 * run by `baton worker` child processes and 8 fake daemons (4 tasks each) that complete every task
 * on arrival. Reports sustained steps/s, the hop under load (last dependency's `completed` sent ->
 * spawn_task received; it includes any wait for one of the 32 slots) and the worker's peak RSS.
 * runMany is shared with the scale-out scenario.
 */
import type { BenchContext } from "../context";
import { findPostmaster, postgresCpuSeconds, processCpuSeconds } from "../cpu";
import { FakeDaemons } from "../fake-daemons";
import { hopsOf } from "../hops";
import { chainSteps, createDirective, createOwner, diamondSteps } from "../shapes";
import { nowMs, percentile, round } from "../stats";
import { groupProblems, startWorkerProcess, WORKER_CONCURRENCY, type WorkerProcess } from "../worker-process";

export const STEPS_PER_DIRECTIVE = 25;
export const manyDirectives = (ctx: BenchContext) => (ctx.quick ? 50 : 200);

/** cpuMsPerStep: CPU time per step of PostgreSQL, all baton workers, and this process (the fake daemons), when /proc tells. */
export type ManyResult = {
  steps: number;
  seconds: number;
  sustained: number;
  hops: number[];
  peakRssMb: number[];
  /** Warnings and errors the workers logged (failed jobs: deadlocks, ...). */
  workerProblems: number;
  cpuMsPerStep: { postgres?: number; workers?: number; bench: number };
};

const sumOrUndefined = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((a, b) => a + b!, 0));

const oneWorker = new WeakMap<BenchContext, Promise<ManyResult>>();

/** The one-worker run, shared by many and scale-out (measured once per bench run). */
export function runManyOneWorker(ctx: BenchContext): Promise<ManyResult> {
  let p = oneWorker.get(ctx);
  if (!p) oneWorker.set(ctx, (p = runMany(ctx, 1)));
  return p;
}

export async function runMany(ctx: BenchContext, workers: number): Promise<ManyResult> {
  const count = manyDirectives(ctx);
  const { url, pool } = await ctx.freshDatabase();
  const owner = await createOwner(pool);
  const deps = new Map<string, string[]>();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const shape = i % 2 === 0 ? chainSteps(STEPS_PER_DIRECTIVE) : diamondSteps(STEPS_PER_DIRECTIVE);
    const d = await createDirective(pool, owner, `many ${i}`, shape);
    ids.push(d.id);
    for (const [k, v] of d.deps) deps.set(k, v);
  }
  const steps = count * STEPS_PER_DIRECTIVE;
  const daemons = await FakeDaemons.start(url, pool, { owner, count: 8, maxTasks: 4, autoComplete: true });
  const procs: WorkerProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) procs.push(await startWorkerProcess(url, WORKER_CONCURRENCY));
    const postmaster = await findPostmaster(pool);
    const cpu = () => ({
      postgres: postmaster ? postgresCpuSeconds(postmaster) : undefined,
      workers: sumOrUndefined(procs.map((p) => processCpuSeconds(p.pid))),
      bench: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage()),
    });
    const cpu0 = cpu();
    const begin = nowMs();
    await pool.query("select baton.start_directive(id) from unnest($1::uuid[]) as id", [ids]);
    await daemons.until(() => daemons.completed === steps, Math.max(120_000, steps * 20), `${steps} steps`);
    const cpu1 = cpu();
    const perStep = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : ((b - a) * 1000) / steps);
    const records = [...daemons.records.values()];
    const acks = records.map((r) => r.reportAckAt!).sort((a, b) => a - b);
    const t10 = acks[Math.floor(steps * 0.1)]!;
    const t90 = acks[Math.floor(steps * 0.9)]!;
    const peakRssMb = procs.map((p) => p.peakRssMb());
    const problems = groupProblems(procs);
    for (const line of problems.lines.slice(0, 5)) ctx.log(`  workers logged ${line}`);
    return {
      steps,
      seconds: (acks[acks.length - 1]! - begin) / 1000,
      sustained: (Math.floor(steps * 0.9) - Math.floor(steps * 0.1)) / ((t90 - t10) / 1000),
      hops: hopsOf(records, deps),
      peakRssMb,
      workerProblems: problems.count,
      cpuMsPerStep: { postgres: perStep(cpu0.postgres, cpu1.postgres), workers: perStep(cpu0.workers, cpu1.workers), bench: perStep(cpu0.bench, cpu1.bench)! },
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await daemons.stop();
  }
}

export async function manyScenario(ctx: BenchContext): Promise<void> {
  const count = manyDirectives(ctx);
  ctx.log(`many: ${count} directives x ${STEPS_PER_DIRECTIVE} steps, one baton worker (concurrency ${WORKER_CONCURRENCY}), 8 fake daemons x 4 tasks`);
  const r = await runManyOneWorker(ctx);
  const p99 = percentile(r.hops, 99);
  const rss = Math.max(...r.peakRssMb);
  ctx.figure({ scenario: "many", name: "sustained steps/s (10%-90% of completions)", value: round(r.sustained, 1), unit: "steps/s", target: ">= 500", met: r.sustained >= 500 });
  ctx.figure({ scenario: "many", name: `steps/s (start -> last of ${r.steps})`, value: round(r.steps / r.seconds, 1), unit: "steps/s" });
  ctx.figure({ scenario: "many", name: "hop under load, p50", value: round(percentile(r.hops, 50)), unit: "ms" });
  ctx.figure({ scenario: "many", name: "hop under load, p99", value: round(p99), unit: "ms" });
  const cpu = r.cpuMsPerStep;
  if (cpu.postgres !== undefined) ctx.figure({ scenario: "many", name: "CPU per step: PostgreSQL", value: round(cpu.postgres), unit: "ms" });
  if (cpu.workers !== undefined) ctx.figure({ scenario: "many", name: "CPU per step: baton worker", value: round(cpu.workers), unit: "ms" });
  ctx.figure({ scenario: "many", name: "CPU per step: bench process (8 fake daemons)", value: round(cpu.bench), unit: "ms" });
  ctx.figure({ scenario: "many", name: "worker warnings and errors (failed jobs)", value: r.workerProblems, unit: "lines" });
  ctx.figure({ scenario: "many", name: "baton worker peak RSS (VmHWM)", value: round(rss, 1), unit: "MB", target: "<= 300", met: rss <= 300 });
}
