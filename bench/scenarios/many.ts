/*
 * many: 200 directives x 25 steps (50 with --quick), half chains and half diamonds, started at once,
 * run by an API-only `baton server`, `baton worker` child processes and 8 fake daemons (4 tasks each)
 * that complete every task on arrival through the API. Reports sustained steps/s, the hop under load
 * (last dependency's `completed` sent -> spawn_task received; it includes any wait for one of the 32
 * slots), CPU per step and the worker's peak RSS. runMany is shared with scale-out and many-full.
 *
 * many-full: the same with daemons that hold every task 500 ms, so all 32 slots stay full and a ready
 * step's task waits `pending` for a slot, as it does when agents run for minutes: how well Baton keeps
 * the slots busy (steps/s against the slots' capacity) and how soon a freed slot gets its next task.
 */
import { analyze, startApi } from "../api-server";
import type { BenchContext } from "../context";
import { findPostmaster, postgresCpuSeconds, processCpuSeconds } from "../cpu";
import { FakeDaemons } from "../fake-daemons";
import { hopsOf } from "../hops";
import { chainSteps, createDirective, createOwner, diamondSteps } from "../shapes";
import { nowMs, percentile, round } from "../stats";
import { groupProblems, startWorkerProcess, WORKER_CONCURRENCY, type WorkerProcess } from "../worker-process";

export const STEPS_PER_DIRECTIVE = 25;
/** Issue-10 targets of many: sustained steps/s, and PostgreSQL CPU per step. */
export const MANY_TARGET_STEPS_S = 300;
export const PG_CPU_TARGET_MS = 5;
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
  cpuMsPerStep: { postgres?: number; workers?: number; server?: number; bench: number };
  /** Per daemon: each completion sent -> that daemon's next spawn_task, within the 10%-90% window. */
  refills: number[];
  /** Tasks that waited `pending` for a slot (assigned after the transaction that created them). */
  pendingTasks: number;
};

export type ManyOptions = { directives?: number; stepsPerDirective?: number; slotsPerDaemon?: number; holdMs?: number; window?: string };

const sumOrUndefined = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((a, b) => a + b!, 0));

const oneWorker = new WeakMap<BenchContext, Promise<ManyResult>>();

/** The one-worker run, shared by many and scale-out (measured once per bench run). */
export function runManyOneWorker(ctx: BenchContext): Promise<ManyResult> {
  let p = oneWorker.get(ctx);
  if (!p) oneWorker.set(ctx, (p = runMany(ctx, 1)));
  return p;
}

export async function runMany(ctx: BenchContext, workers: number, opts: ManyOptions = {}): Promise<ManyResult> {
  const count = opts.directives ?? manyDirectives(ctx);
  const perDirective = opts.stepsPerDirective ?? STEPS_PER_DIRECTIVE;
  const { url, pool } = await ctx.freshDatabase();
  const owner = await createOwner(pool);
  const deps = new Map<string, string[]>();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const shape = i % 2 === 0 ? chainSteps(perDirective) : diamondSteps(perDirective);
    const d = await createDirective(pool, owner, `many ${i}`, shape);
    ids.push(d.id);
    for (const [k, v] of d.deps) deps.set(k, v);
  }
  const steps = count * perDirective;
  const api = await startApi(url, pool, { worker: false });
  const procs: WorkerProcess[] = [];
  let daemons: FakeDaemons | undefined;
  try {
    daemons = await FakeDaemons.start(pool, { graphqlUrl: api.graphqlUrl, ownerToken: await api.ownerToken(owner), count: 8, maxTasks: opts.slotsPerDaemon ?? 4, autoComplete: true, holdMs: opts.holdMs });
    const fleet = daemons;
    await analyze(pool);
    for (let i = 0; i < workers; i++) procs.push(await startWorkerProcess(url, WORKER_CONCURRENCY));
    const postmaster = await findPostmaster(pool);
    const cpu = () => ({
      postgres: postmaster ? postgresCpuSeconds(postmaster) : undefined,
      workers: sumOrUndefined(procs.map((p) => processCpuSeconds(p.pid))),
      server: processCpuSeconds(api.server.pid),
      bench: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage()),
    });
    await ctx.profile.begin(opts.window ?? `${count} x ${perDirective}, ${workers} worker(s)`);
    const cpu0 = cpu();
    const begin = nowMs();
    await pool.query("select baton.start_directive(id) from unnest($1::uuid[]) as id", [ids]);
    await fleet.until(() => fleet.completed === steps, Math.max(120_000, steps * 20 + steps * (opts.holdMs ?? 0) * 0.1), `${steps} steps`);
    const cpu1 = cpu();
    await ctx.profile.end(steps);
    await fleet.resolveSteps(pool);
    const perStep = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : ((b - a) * 1000) / steps);
    const records = [...fleet.records.values()];
    const acks = records.map((r) => r.reportAckAt!).sort((a, b) => a - b);
    const t10 = acks[Math.floor(steps * 0.1)]!;
    const t90 = acks[Math.floor(steps * 0.9)]!;
    const refills: number[] = [];
    for (const id of fleet.ids) {
      const mine = records.filter((r) => r.daemonId === id).sort((a, b) => a.receivedAt - b.receivedAt);
      for (const r of mine) {
        if (r.reportSentAt! < t10 || r.reportSentAt! > t90) continue;
        const next = mine.find((x) => x.receivedAt > r.reportSentAt!);
        if (next) refills.push(next.receivedAt - r.reportSentAt!);
      }
    }
    // Assigned in a later transaction than the one that created the task (now() differs).
    const pending = await pool.query<{ n: number }>(
      `select count(*)::int as n from baton.events e join baton.tasks t on t.id = e.subject_id
        where e.subject_type = 'task' and e.from_status = 'pending' and e.to_status = 'starting' and e.created_at > t.created_at`,
    );
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
      cpuMsPerStep: { postgres: perStep(cpu0.postgres, cpu1.postgres), workers: perStep(cpu0.workers, cpu1.workers), server: perStep(cpu0.server, cpu1.server), bench: perStep(cpu0.bench, cpu1.bench)! },
      refills,
      pendingTasks: pending.rows[0]!.n,
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await daemons?.stop();
    await api.stop();
  }
}

export async function manyScenario(ctx: BenchContext): Promise<void> {
  const count = manyDirectives(ctx);
  ctx.log(`many: ${count} directives x ${STEPS_PER_DIRECTIVE} steps, one baton worker (concurrency ${WORKER_CONCURRENCY}), 8 fake daemons x 4 tasks`);
  const r = await runManyOneWorker(ctx);
  const p99 = percentile(r.hops, 99);
  const rss = Math.max(...r.peakRssMb);
  ctx.figure({ scenario: "many", name: "sustained steps/s (10%-90% of completions)", value: round(r.sustained, 1), unit: "steps/s", target: `>= ${MANY_TARGET_STEPS_S}`, met: r.sustained >= MANY_TARGET_STEPS_S });
  ctx.figure({ scenario: "many", name: `steps/s (start -> last of ${r.steps})`, value: round(r.steps / r.seconds, 1), unit: "steps/s" });
  ctx.figure({ scenario: "many", name: "hop under load, p50", value: round(percentile(r.hops, 50)), unit: "ms" });
  ctx.figure({ scenario: "many", name: "hop under load, p99", value: round(p99), unit: "ms" });
  const cpu = r.cpuMsPerStep;
  if (cpu.postgres !== undefined) ctx.figure({ scenario: "many", name: "CPU per step: PostgreSQL", value: round(cpu.postgres), unit: "ms", target: `<= ${PG_CPU_TARGET_MS}`, met: cpu.postgres <= PG_CPU_TARGET_MS });
  if (cpu.workers !== undefined) ctx.figure({ scenario: "many", name: "CPU per step: baton worker", value: round(cpu.workers), unit: "ms" });
  if (cpu.server !== undefined) ctx.figure({ scenario: "many", name: "CPU per step: baton server (API)", value: round(cpu.server), unit: "ms" });
  ctx.figure({ scenario: "many", name: "CPU per step: bench process (8 fake daemons)", value: round(cpu.bench), unit: "ms" });
  ctx.figure({ scenario: "many", name: "tasks that waited pending for a slot", value: r.pendingTasks, unit: "tasks" });
  ctx.figure({ scenario: "many", name: "worker warnings and errors (failed jobs)", value: r.workerProblems, unit: "lines" });
  ctx.figure({ scenario: "many", name: "baton worker peak RSS (VmHWM)", value: round(rss, 1), unit: "MB", target: "<= 300", met: rss <= 300 });
}

export async function manyFullScenario(ctx: BenchContext): Promise<void> {
  // More ready steps than slots at every moment (a chain has one, a diamond one or two), so tasks wait
  // pending: 50 x 25 on 8 x 4 slots; --quick: 16 x 10 on 8 x 1 slots.
  const directives = ctx.quick ? 16 : 50;
  const perDirective = ctx.quick ? 10 : STEPS_PER_DIRECTIVE;
  const slotsPerDaemon = ctx.quick ? 1 : 4;
  const holdMs = ctx.quick ? 250 : 500;
  const slots = 8 * slotsPerDaemon;
  const capacity = (slots * 1000) / holdMs;
  ctx.log(`many-full: ${directives} directives x ${perDirective} steps, 8 fake daemons x ${slotsPerDaemon} slots holding each task ${holdMs} ms (capacity ${capacity} steps/s)`);
  const r = await runMany(ctx, 1, { directives, stepsPerDirective: perDirective, slotsPerDaemon, holdMs, window: `${directives} x ${perDirective}, daemons full (${holdMs} ms per task)` });
  ctx.figure({ scenario: "many-full", name: `sustained steps/s (the slots' capacity: ${capacity})`, value: round(r.sustained, 1), unit: "steps/s" });
  ctx.figure({ scenario: "many-full", name: "slots kept busy (sustained / capacity)", value: round((100 * r.sustained) / capacity, 1), unit: "%" });
  ctx.figure({ scenario: "many-full", name: "tasks that waited pending for a slot", value: r.pendingTasks, unit: `of ${r.steps}` });
  ctx.figure({ scenario: "many-full", name: "slot refill (completion sent -> the daemon's next spawn_task), p50", value: round(percentile(r.refills, 50)), unit: "ms" });
  ctx.figure({ scenario: "many-full", name: "slot refill, p99", value: round(percentile(r.refills, 99)), unit: "ms" });
  if (r.cpuMsPerStep.postgres !== undefined) ctx.figure({ scenario: "many-full", name: "CPU per step: PostgreSQL", value: round(r.cpuMsPerStep.postgres), unit: "ms", target: `<= ${PG_CPU_TARGET_MS}`, met: r.cpuMsPerStep.postgres <= PG_CPU_TARGET_MS });
  ctx.figure({ scenario: "many-full", name: "worker warnings and errors (failed jobs)", value: r.workerProblems, unit: "lines" });
}
