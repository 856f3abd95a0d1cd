/*
 * Size: the cost of completing one step in a 10,000-step directive against a 10-step one, measured
 * in the same run, through the API: a fake daemon reports each completion with its daemon token, so
 * the authorization a daemon's report pays (daemon_works_on) is counted. Both directives are made of
 * root -> child pairs, so every completion satisfies exactly one dependent; only the directive's size
 * differs. Half of the big directive's roots are completed first (untimed, with SQL), so it has the
 * thousands of task rows an advanced directive has. Completions of the two are interleaved in rounds
 * so that drift of the machine affects both alike. Each task is created with SQL (assigned to the
 * daemon, whose spawn_task arrives over its websocket) and then reported completed, timed.
 */
import type { Pool } from "pg";
import { analyze, startApi } from "../api-server";
import type { BenchContext } from "../context";
import { FakeDaemons } from "../fake-daemons";
import { mean, nowMs, percentile, round } from "../stats";

/** The issue-10 target: a completion in a 10,000-step directive costs at most 1.2 x one in a 10-step directive. */
export const SIZE_RATIO_TARGET = 1.2;

async function pairsDirective(pool: Pool, owner: string, pairs: number): Promise<string[]> {
  const d = (await pool.query<{ id: string }>("select id from baton.create_directive('bench', 'size', owner_id => $1)", [owner])).rows[0]!.id;
  const steps: { key: string; name: string; dependsOn?: string[] }[] = [];
  for (let i = 0; i < pairs; i++) {
    steps.push({ key: `r${i}`, name: `root ${i}` });
    steps.push({ key: `c${i}`, name: `child ${i}`, dependsOn: [`r${i}`] });
  }
  await pool.query("select baton.batch_add_steps($1, $2)", [d, JSON.stringify(steps)]);
  await pool.query("select baton.start_directive($1)", [d]);
  const roots = await pool.query<{ id: string }>("select id from baton.directive_steps where directive_id = $1 and status = 'ready' order by order_index", [d]);
  return roots.rows.map((r) => r.id);
}

/** Creates a task for the step (assigned to the daemon), waits for its spawn_task, then times its `completed` report through the API. */
async function completeOne(pool: Pool, daemons: FakeDaemons, stepId: string): Promise<{ ms: number; taskId: string }> {
  const taskId = (await pool.query<{ id: string }>("select id from baton.create_execution_task($1)", [stepId])).rows[0]!.id;
  await daemons.until(() => daemons.records.has(taskId), 10_000, "a size task's spawn_task");
  const start = nowMs();
  await daemons.complete(taskId);
  return { ms: nowMs() - start, taskId };
}

/** Transaction times (BEGIN -> commit in PostgreSQL) of these tasks' completed reports, by task. */
async function transactions(pool: Pool, taskIds: string[]): Promise<number[]> {
  const on = await pool.query<{ on: string }>("select current_setting('track_commit_timestamp') as on");
  if (on.rows[0]?.on !== "on") return [];
  const r = await pool.query<{ ms: number }>(
    `select extract(epoch from (pg_xact_commit_timestamp(e.xmin) - e.created_at)) * 1000 as ms from baton.events e
      where e.subject_id = any($1::uuid[]) and e.to_status = 'completed' and e.actor = 'baton_daemon'`,
    [taskIds],
  );
  return r.rows.map((x) => Number(x.ms));
}

export async function sizeScenario(ctx: BenchContext): Promise<void> {
  const { url, pool } = await ctx.freshDatabase();
  const owner = (await pool.query<{ id: string }>("select id from baton.create_owner('bench')")).rows[0]!.id;
  const completions = ctx.quick ? 60 : 400;
  const bigSize = ctx.quick ? 2000 : 10000;
  ctx.log(`size: building a ${bigSize}-step directive (half its roots completed) and ${completions / 5} 10-step ones`);
  const bigRoots = await pairsDirective(pool, owner, bigSize / 2);
  // Before any daemon exists, so these tasks stay pending until completed (no spawn_task to anyone).
  const done = bigRoots.splice(0, bigSize / 4);
  for (let i = 0; i < done.length; i += 250) {
    await pool.query("select baton.report_task_status((baton.create_execution_task(s)).id, 'completed') from unnest($1::uuid[]) as s", [done.slice(i, i + 250)]);
  }
  const smallRoots: string[] = [];
  for (let i = 0; i < completions / 5; i++) smallRoots.push(...(await pairsDirective(pool, owner, 5)));
  const api = await startApi(url, pool, { worker: false });
  let daemons: FakeDaemons | undefined;
  const big: number[] = [];
  const small: number[] = [];
  const bigTasks: string[] = [];
  const smallTasks: string[] = [];
  try {
    daemons = await FakeDaemons.start(pool, { graphqlUrl: api.graphqlUrl, ownerToken: await api.ownerToken(owner), count: 1, maxTasks: 4, autoComplete: false });
    await analyze(pool);
    // Warm up both paths.
    for (let i = 0; i < 10; i++) {
      await completeOne(pool, daemons, bigRoots.pop()!);
      await completeOne(pool, daemons, smallRoots.pop()!);
    }
    await ctx.profile.begin(`${completions - 10} completions in each size`);
    while (big.length < completions - 10 && bigRoots.length && smallRoots.length) {
      const b = await completeOne(pool, daemons, bigRoots.pop()!);
      const s = await completeOne(pool, daemons, smallRoots.pop()!);
      big.push(b.ms);
      bigTasks.push(b.taskId);
      small.push(s.ms);
      smallTasks.push(s.taskId);
    }
    await ctx.profile.end(2 * big.length);
  } finally {
    await daemons?.stop();
    await api.stop();
  }
  const ratio = mean(big) / mean(small);
  ctx.figure({ scenario: "size", name: `completion through the API in a ${bigSize}-step directive, mean`, value: round(mean(big), 3), unit: "ms" });
  ctx.figure({ scenario: "size", name: "completion through the API in a 10-step directive, mean", value: round(mean(small), 3), unit: "ms" });
  ctx.figure({ scenario: "size", name: `completion p50 (${bigSize} / 10 steps)`, value: round(percentile(big, 50) / percentile(small, 50), 3), unit: "ratio" });
  ctx.figure({ scenario: "size", name: `size ratio (${bigSize} / 10 steps, mean)`, value: round(ratio, 3), unit: "ratio", target: `<= ${SIZE_RATIO_TARGET}`, met: ratio <= SIZE_RATIO_TARGET });
  const txBig = await transactions(pool, bigTasks);
  const txSmall = await transactions(pool, smallTasks);
  if (txBig.length && txSmall.length) {
    ctx.figure({ scenario: "size", name: `report transaction in the ${bigSize}-step directive, p50`, value: round(percentile(txBig, 50), 3), unit: "ms" });
    ctx.figure({ scenario: "size", name: "report transaction in a 10-step directive, p50", value: round(percentile(txSmall, 50), 3), unit: "ms" });
    ctx.figure({ scenario: "size", name: `size ratio of the report transaction (${bigSize} / 10 steps, mean)`, value: round(mean(txBig) / mean(txSmall), 3), unit: "ratio" });
  }
}
