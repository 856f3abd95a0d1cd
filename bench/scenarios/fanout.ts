/*
 * fanout: root -> 2,000 parallel steps (300 with --quick) -> join, with an API-only `baton server`,
 * `baton worker` as a child process and 8 fake daemons with room for all of them. The daemons hold
 * the 2,000 until all have arrived, so the first figure is pure dispatch: the root's `completed`
 * report sent -> the 2,000th spawn_task received. Then all but one are completed, and the last
 * completion is timed on its own to the join's spawn_task (a hop whose step has 2,000 dependencies).
 * startFanout is shared with fanout-chain.
 */
import type { Pool } from "pg";
import { analyze, startApi, type BenchApi } from "../api-server";
import type { BenchContext } from "../context";
import { FakeDaemons, type TaskRecord } from "../fake-daemons";
import { createDirective, createOwner, fanoutSteps, type BuiltDirective } from "../shapes";
import { nowMs, round } from "../stats";
import { groupProblems, startWorkerProcess, WORKER_CONCURRENCY, type WorkerProcess } from "../worker-process";

/** The issue-10 target: 1 -> 2,000 dispatched (root completed -> last spawn_task) within 2 s. */
export const FANOUT_TARGET_MS = 2000;
export const FANOUT_TARGET_WIDTH = 2000;
export const fanoutWidth = (ctx: BenchContext) => (ctx.quick ? 300 : 2000);

export type Fanout = {
  width: number;
  url: string;
  pool: Pool;
  api: BenchApi;
  worker: WorkerProcess;
  daemons: FakeDaemons;
  directive: BuiltDirective;
  /** Completes the root (its spawn_task has arrived) and resolves with its record once all `width` children have arrived. */
  release(): Promise<{ root: TaskRecord; children: TaskRecord[] }>;
  stop(): Promise<void>;
};

/** Seeds the fan-out, starts the server, worker and daemons, starts the directive and waits for the root's spawn_task. before(): more seeding on the same database, analyzed with it. */
export async function startFanout(ctx: BenchContext, width: number, before?: (pool: Pool, api: BenchApi) => Promise<void>): Promise<Fanout> {
  const daemonCount = 8;
  const { url, pool } = await ctx.freshDatabase();
  const owner = await createOwner(pool);
  const d = await createDirective(pool, owner, "fanout", fanoutSteps(width));
  const api = await startApi(url, pool, { worker: false });
  let worker: WorkerProcess | undefined;
  let daemons: FakeDaemons | undefined;
  try {
    daemons = await FakeDaemons.start(pool, { graphqlUrl: api.graphqlUrl, ownerToken: await api.ownerToken(owner), count: daemonCount, maxTasks: Math.ceil(width / daemonCount) + 1, autoComplete: false });
    await before?.(pool, api);
    await analyze(pool);
    worker = await startWorkerProcess(url, WORKER_CONCURRENCY);
    await pool.query("select baton.start_directive($1)", [d.id]);
    await daemons.until(() => daemons!.received === 1, 30_000, "the root's spawn_task");
  } catch (err) {
    await worker?.stop();
    await daemons?.stop();
    await api.stop();
    throw err;
  }
  const fleet = daemons;
  const w = worker;
  return {
    width,
    url,
    pool,
    api,
    worker: w,
    daemons: fleet,
    directive: d,
    async release() {
      const rootTask = fleet.held()[0]!;
      const root = await fleet.complete(rootTask);
      const step = (await pool.query<{ step_id: string }>("select step_id from baton.tasks where id = $1", [rootTask])).rows[0]?.step_id;
      if (step !== d.stepIds.get("root")) throw new Error("the first task was not the root's");
      await fleet.until(() => fleet.received === width + 1, 300_000, `${width} spawn_tasks`);
      return { root, children: [...fleet.records.values()].filter((r) => r.taskId !== rootTask) };
    },
    async stop() {
      await w.stop();
      await fleet.stop();
      await api.stop();
      for (const line of groupProblems([w]).lines.slice(0, 5)) ctx.log(`  worker logged ${line}`);
    },
  };
}

export async function fanoutScenario(ctx: BenchContext): Promise<void> {
  const width = fanoutWidth(ctx);
  ctx.log(`fanout: 1 -> ${width} -> 1 with an API-only baton server, one baton worker (concurrency ${WORKER_CONCURRENCY}) and 8 fake daemons`);
  const f = await startFanout(ctx, width);
  let dispatchMs: number, rootMs: number, joinMs: number, completionsS: number, firstRate: number, lastRate: number;
  try {
    await ctx.profile.begin(`dispatch of ${width}`);
    const { root, children } = await f.release();
    await ctx.profile.end(width);
    rootMs = root.reportAckAt! - root.reportSentAt!;
    const arrivals = children.map((r) => r.receivedAt).sort((a, b) => a - b);
    dispatchMs = arrivals[arrivals.length - 1]! - root.reportSentAt!;
    // Whether dispatching slows down as the daemons fill up (a cost growing with live tasks).
    const tenth = Math.floor(width / 10);
    firstRate = tenth / ((arrivals[tenth - 1]! - root.reportSentAt!) / 1000);
    lastRate = tenth / ((arrivals[width - 1]! - arrivals[width - 1 - tenth]!) / 1000);

    const last = children.pop()!;
    const t0 = nowMs();
    await Promise.all(children.map((r) => f.daemons.complete(r.taskId)));
    completionsS = (nowMs() - t0) / 1000;
    const lastRec = await f.daemons.complete(last.taskId);
    await f.daemons.until(() => f.daemons.received === width + 2, 60_000, "the join's spawn_task");
    const joinRec = [...f.daemons.records.values()].reduce((a, b) => (b.receivedAt > a.receivedAt ? b : a));
    joinMs = joinRec.receivedAt - lastRec.reportSentAt!;
    const joinStep = (await f.pool.query<{ step_id: string }>("select step_id from baton.tasks where id = $1", [joinRec.taskId])).rows[0]!.step_id;
    if (joinStep !== f.directive.stepIds.get("join")) throw new Error("the last task was not the join's");
  } finally {
    await f.stop();
  }
  const full = width === FANOUT_TARGET_WIDTH;
  ctx.figure({
    scenario: "fanout",
    name: `dispatch ${width} (root completed -> last spawn_task)`,
    value: round(dispatchMs),
    unit: "ms",
    target: full ? `<= ${FANOUT_TARGET_MS}` : `<= ${FANOUT_TARGET_MS} at ${FANOUT_TARGET_WIDTH} (full run)`,
    ...(full ? { met: dispatchMs <= FANOUT_TARGET_MS } : {}),
  });
  ctx.figure({ scenario: "fanout", name: `  of which the root's completion (makes ${width} steps ready)`, value: round(rootMs), unit: "ms" });
  ctx.figure({ scenario: "fanout", name: `dispatch rate of the ${width}`, value: round(width / (dispatchMs / 1000), 1), unit: "tasks/s" });
  ctx.figure({ scenario: "fanout", name: "dispatch rate, first 10%", value: round(firstRate), unit: "tasks/s" });
  ctx.figure({ scenario: "fanout", name: "dispatch rate, last 10%", value: round(lastRate), unit: "tasks/s" });
  ctx.figure({ scenario: "fanout", name: `${width - 1} completions reported (8 daemons, through the API)`, value: round(completionsS * 1000), unit: "ms" });
  ctx.figure({ scenario: "fanout", name: `join hop (last of ${width} completed -> join's spawn_task)`, value: round(joinMs), unit: "ms" });
}
