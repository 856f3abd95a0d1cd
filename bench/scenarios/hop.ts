/*
 * Hop latency: from one task's `completed` report to the next step's spawn_task arriving at a
 * LISTENing daemon, on a linear chain, beside two baselines measured in the same run:
 *   - floor: an UPDATE + NOTIFY in one transaction, received by another connection's LISTEN;
 *   - bare graphile-worker: a chain of jobs where each job adds the next (what one could build by hand).
 */
import { Client, type Pool } from "pg";
import { silentLogger } from "../../src/logger";
import { startWorker } from "../../src/worker";
import type { BenchContext } from "../context";
import { nowMs, percentile, round } from "../stats";

async function floor(url: string, samples: number): Promise<number[]> {
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

async function bareWorkerChain(pool: Pool, hops: number): Promise<number[]> {
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

/** A daemon that completes every task the moment it arrives, timing each hop. */
async function batonChain(url: string, pool: Pool, steps: number): Promise<{ hops: number[]; seconds: number }> {
  const owner = (await pool.query<{ id: string }>("select id from baton.create_owner('bench')")).rows[0]!.id;
  const d = (await pool.query<{ id: string }>("select id from baton.create_directive('chain', 'bench', owner_id => $1)", [owner])).rows[0]!.id;
  const chain = Array.from({ length: steps }, (_, i) => ({ key: `s${i}`, name: `step ${i}`, dependsOn: i ? [`s${i - 1}`] : [] }));
  await pool.query("select baton.batch_add_steps($1, $2)", [d, JSON.stringify(chain)]);
  const daemon = (await pool.query<{ id: string }>("select id from baton.register_daemon('bench', max_tasks => 4, owner_id => $1)", [owner])).rows[0]!.id;
  const listener = new Client({ connectionString: url });
  const reporter = new Client({ connectionString: url });
  await listener.connect();
  await reporter.connect();
  await listener.query(`listen "baton:daemon:${daemon}"`);
  const runner = await startWorker(pool, { concurrency: 4, logger: silentLogger });
  const hops: number[] = [];
  let sentAt: number | undefined;
  let completed = 0;
  let begin = 0;
  const finished = new Promise<void>((resolve, reject) => {
    listener.on("notification", (msg) => {
      const cmd = JSON.parse(msg.payload ?? "{}") as { type: string; task_id: string };
      if (cmd.type !== "spawn_task") return;
      if (sentAt !== undefined) hops.push(nowMs() - sentAt);
      if (begin === 0) begin = nowMs();
      sentAt = nowMs();
      reporter
        .query("select baton.report_task_status(task_id => $1, status => 'completed', daemon_id => $2)", [cmd.task_id, daemon])
        .then(() => {
          if (++completed === steps) resolve();
        }, reject);
    });
  });
  await pool.query("select baton.start_directive($1)", [d]);
  await finished;
  const seconds = (nowMs() - begin) / 1000;
  await runner.stop();
  await listener.end();
  await reporter.end();
  return { hops, seconds };
}

export async function hopScenario(ctx: BenchContext): Promise<void> {
  const steps = ctx.quick ? 100 : 300;
  const { url, pool } = await ctx.freshDatabase();
  ctx.log(`hop: floor, bare graphile-worker chain and a ${steps}-step Baton chain`);
  const floorMs = await floor(url, steps);
  const bare = await bareWorkerChain(pool, steps);
  const chain = await batonChain(url, pool, steps);
  const p = (xs: number[], q: number) => round(percentile(xs, q), 2);
  ctx.figure({ scenario: "hop", name: "floor: UPDATE + NOTIFY -> LISTEN, p50", value: p(floorMs, 50), unit: "ms" });
  ctx.figure({ scenario: "hop", name: "floor: UPDATE + NOTIFY -> LISTEN, p99", value: p(floorMs, 99), unit: "ms" });
  ctx.figure({ scenario: "hop", name: "bare graphile-worker hop, p50", value: p(bare, 50), unit: "ms" });
  ctx.figure({ scenario: "hop", name: "bare graphile-worker hop, p99", value: p(bare, 99), unit: "ms" });
  const p50 = percentile(chain.hops, 50);
  const p99 = percentile(chain.hops, 99);
  ctx.figure({ scenario: "hop", name: `Baton chain hop (${steps} steps), p50`, value: round(p50), unit: "ms", target: "<= 5", met: p50 <= 5 });
  ctx.figure({ scenario: "hop", name: `Baton chain hop (${steps} steps), p99`, value: round(p99), unit: "ms", target: "<= 25", met: p99 <= 25 });
  ctx.figure({ scenario: "hop", name: "Baton chain steps/s", value: round(steps / chain.seconds, 1), unit: "steps/s" });
  const ratio = p50 / percentile(bare, 50);
  ctx.figure({ scenario: "hop", name: "Baton hop p50 / bare graphile-worker hop p50", value: round(ratio), unit: "ratio", target: "<= 2.5", met: ratio <= 2.5 });
  ctx.figure({ scenario: "hop", name: "Baton hop p50 / floor p50", value: round(p50 / percentile(floorMs, 50)), unit: "ratio" });
  ctx.figure({ scenario: "hop", name: "reference: the 15 s polling design's expected hop (mean)", value: 7500, unit: "ms" });
}
