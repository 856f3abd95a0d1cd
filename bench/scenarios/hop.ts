/*
 * The baselines a Baton hop is judged against, measured once per run (the chain scenario reuses them):
 *   - floor: an UPDATE + NOTIFY in one transaction, received by another connection's LISTEN;
 *   - bare graphile-worker: a chain of jobs where each job adds the next (what one could build by hand);
 *   - reference: the 15 s polling design Baton replaces (a hop waits half a tick on average).
 */
import { Client, type Pool } from "pg";
import type { BenchContext } from "../context";
import { nowMs, percentile, round } from "../stats";

export type Baselines = { floor: number[]; bare: number[] };

export async function floor(url: string, samples: number): Promise<number[]> {
  const sender = new Client({ connectionString: url });
  const listener = new Client({ connectionString: url });
  await sender.connect();
  await listener.connect();
  await sender.query("create table if not exists bench_floor (id int primary key, n bigint not null); insert into bench_floor values (1, 0) on conflict do nothing");
  await listener.query("listen bench_floor");
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const received = new Promise<void>((resolve) => listener.once("notification", () => resolve()));
    const start = nowMs();
    await sender.query("with u as (update bench_floor set n = n + 1 where id = 1 returning n) select pg_notify('bench_floor', n::text) from u");
    await received;
    out.push(nowMs() - start);
  }
  await sender.end();
  await listener.end();
  return out;
}

export async function bareWorkerChain(pool: Pool, hops: number): Promise<number[]> {
  const { run, Logger } = await import("graphile-worker");
  const added = new Map<number, number>();
  const out: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const runner = await run({
    pgPool: pool,
    concurrency: 4,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: new Logger(() => () => undefined),
    taskList: {
      bench_hop: async (payload, helpers) => {
        const n = (payload as { n: number }).n;
        const at = added.get(n);
        if (at !== undefined) out.push(nowMs() - at);
        if (n >= hops) return done();
        added.set(n + 1, nowMs());
        await helpers.addJob("bench_hop", { n: n + 1 });
      },
    },
  });
  await runner.addJob("bench_hop", { n: 0 });
  await finished;
  await runner.stop();
  return out;
}

/** The number of samples of each baseline: the chain scenario's length. */
export const hopSamples = (ctx: BenchContext) => (ctx.quick ? 100 : 500);

const measured = new WeakMap<BenchContext, Promise<Baselines>>();

/** Measures the baselines on the first call of a run and reports them; later calls reuse them. */
export function hopBaselines(ctx: BenchContext): Promise<Baselines> {
  let p = measured.get(ctx);
  if (!p) {
    p = (async () => {
      const samples = hopSamples(ctx);
      const { url, pool } = await ctx.freshDatabase();
      ctx.log(`hop: floor and bare graphile-worker baselines (${samples} hops each)`);
      const b = { floor: await floor(url, samples), bare: await bareWorkerChain(pool, samples) };
      const p = (xs: number[], q: number) => round(percentile(xs, q), 2);
      ctx.figure({ scenario: "hop", name: "floor: UPDATE + NOTIFY -> LISTEN, p50", value: p(b.floor, 50), unit: "ms" });
      ctx.figure({ scenario: "hop", name: "floor: UPDATE + NOTIFY -> LISTEN, p99", value: p(b.floor, 99), unit: "ms" });
      ctx.figure({ scenario: "hop", name: "bare graphile-worker hop, p50", value: p(b.bare, 50), unit: "ms" });
      ctx.figure({ scenario: "hop", name: "bare graphile-worker hop, p99", value: p(b.bare, 99), unit: "ms" });
      return b;
    })();
    measured.set(ctx, p);
  }
  return p;
}

export async function hopScenario(ctx: BenchContext): Promise<void> {
  await hopBaselines(ctx);
  ctx.figure({ scenario: "hop", name: "reference: the 15 s polling design's expected hop (mean)", value: 7500, unit: "ms" });
}
