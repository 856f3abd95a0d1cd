/*
 * scale-out: the many scenario with one and then two `baton worker` processes on the same database
 * (each with the same concurrency): steps/s of each and their ratio. The one-worker figures are the
 * many scenario's run when it ran just before; otherwise it is run here.
 */
import type { BenchContext } from "../context";
import { percentile, round } from "../stats";
import { WORKER_CONCURRENCY } from "../worker-process";
import { manyDirectives, runMany, runManyOneWorker, STEPS_PER_DIRECTIVE } from "./many";

export async function scaleOutScenario(ctx: BenchContext): Promise<void> {
  ctx.log(`scale-out: many (${manyDirectives(ctx)} x ${STEPS_PER_DIRECTIVE}) with 2 baton workers (concurrency ${WORKER_CONCURRENCY} each) beside the 1-worker run`);
  const one = await runManyOneWorker(ctx);
  const two = await runMany(ctx, 2);
  for (const [n, r] of [[1, one], [2, two]] as const) {
    ctx.figure({ scenario: "scale-out", name: `${n} worker${n > 1 ? "s" : ""}: sustained steps/s`, value: round(r.sustained, 1), unit: "steps/s" });
    ctx.figure({ scenario: "scale-out", name: `${n} worker${n > 1 ? "s" : ""}: hop under load, p99`, value: round(percentile(r.hops, 99)), unit: "ms" });
    ctx.figure({ scenario: "scale-out", name: `${n} worker${n > 1 ? "s" : ""}: warnings and errors (failed jobs)`, value: r.workerProblems, unit: "lines" });
    ctx.figure({ scenario: "scale-out", name: `${n} worker${n > 1 ? "s" : ""}: peak RSS per worker (max)`, value: round(Math.max(...r.peakRssMb), 1), unit: "MB" });
  }
  ctx.figure({ scenario: "scale-out", name: "2 workers / 1 worker, sustained steps/s", value: round(two.sustained / one.sustained), unit: "ratio" });
}
