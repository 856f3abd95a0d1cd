/*
 * fanout: root -> 2,000 parallel steps (500 with --quick) -> join, with `baton worker` as a child
 * process and 8 fake daemons with room for all of them. The daemons hold the 2,000 until all have
 * arrived, so the first figure is pure dispatch: the root's `completed` report sent -> the 2,000th
 * spawn_task received. Then all but one are completed, and the last completion is timed on its own
 * to the join's spawn_task (a hop whose step has 2,000 dependencies).
 */
import type { BenchContext } from "../context";
import { FakeDaemons } from "../fake-daemons";
import { createDirective, createOwner, fanoutSteps } from "../shapes";
import { nowMs, round } from "../stats";
import { groupProblems, startWorkerProcess, WORKER_CONCURRENCY } from "../worker-process";

export async function fanoutScenario(ctx: BenchContext): Promise<void> {
  const width = ctx.quick ? 500 : 2000;
  const daemonCount = 8;
  const { url, pool } = await ctx.freshDatabase();
  ctx.log(`fanout: 1 -> ${width} -> 1 with one baton worker (concurrency ${WORKER_CONCURRENCY}) and ${daemonCount} fake daemons`);
  const owner = await createOwner(pool);
  const d = await createDirective(pool, owner, "fanout", fanoutSteps(width));
  const root = d.stepIds.get("root")!;
  const join = d.stepIds.get("join")!;
  const daemons = await FakeDaemons.start(url, pool, { owner, count: daemonCount, maxTasks: Math.ceil(width / daemonCount) + 1, autoComplete: false });
  const worker = await startWorkerProcess(url, WORKER_CONCURRENCY);
  let dispatchMs: number, rootMs: number, joinMs: number, completionsS: number, firstRate: number, lastRate: number;
  try {
    await pool.query("select baton.start_directive($1)", [d.id]);
    await daemons.until(() => daemons.received === 1, 30_000, "the root's spawn_task");
    const rootTask = daemons.held()[0]!;
    const rootRec = await daemons.complete(rootTask);
    if (rootRec.stepId !== root) throw new Error("the first task was not the root's");
    rootMs = rootRec.reportAckAt! - rootRec.reportSentAt!;
    await daemons.until(() => daemons.received === width + 1, 120_000, `${width} spawn_tasks`);
    const children = [...daemons.records.values()].filter((r) => r.taskId !== rootTask);
    const arrivals = children.map((r) => r.receivedAt).sort((a, b) => a - b);
    dispatchMs = arrivals[arrivals.length - 1]! - rootRec.reportSentAt!;
    // Whether dispatching slows down as the daemons fill up (a cost growing with live tasks).
    const tenth = Math.floor(width / 10);
    firstRate = tenth / ((arrivals[tenth - 1]! - rootRec.reportSentAt!) / 1000);
    lastRate = tenth / ((arrivals[width - 1]! - arrivals[width - 1 - tenth]!) / 1000);

    const last = children.pop()!;
    const t0 = nowMs();
    await Promise.all(children.map((r) => daemons.complete(r.taskId)));
    completionsS = (nowMs() - t0) / 1000;
    const lastRec = await daemons.complete(last.taskId);
    await daemons.until(() => daemons.received === width + 2, 30_000, "the join's spawn_task");
    const joinRec = [...daemons.records.values()].find((r) => r.stepId === undefined && daemons.held().includes(r.taskId))!;
    joinMs = joinRec.receivedAt - lastRec.reportSentAt!;
    const joinStep = (await pool.query<{ step_id: string }>("select step_id from baton.tasks where id = $1", [joinRec.taskId])).rows[0]!.step_id;
    if (joinStep !== join) throw new Error("the last task was not the join's");
  } finally {
    await worker.stop();
    await daemons.stop();
    for (const line of groupProblems([worker]).lines.slice(0, 5)) ctx.log(`  worker logged ${line}`);
  }
  ctx.figure({ scenario: "fanout", name: `dispatch ${width} (root completed -> last spawn_task)`, value: round(dispatchMs), unit: "ms" });
  ctx.figure({ scenario: "fanout", name: `  of which the root's completion (makes ${width} steps ready)`, value: round(rootMs), unit: "ms" });
  ctx.figure({ scenario: "fanout", name: `dispatch rate of the ${width}`, value: round(width / (dispatchMs / 1000), 1), unit: "tasks/s" });
  ctx.figure({ scenario: "fanout", name: "dispatch rate, first 10%", value: round(firstRate), unit: "tasks/s" });
  ctx.figure({ scenario: "fanout", name: "dispatch rate, last 10%", value: round(lastRate), unit: "tasks/s" });
  ctx.figure({ scenario: "fanout", name: `${width - 1} completions reported (8 connections)`, value: round(completionsS * 1000), unit: "ms" });
  ctx.figure({ scenario: "fanout", name: `join hop (last of ${width} completed -> join's spawn_task)`, value: round(joinMs), unit: "ms" });
}
