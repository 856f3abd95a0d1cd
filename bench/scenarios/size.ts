/*
 * Size: the cost of completing one step in a 10,000-step directive against a 10-step one, measured
 * in the same run. Both directives are made of root -> child pairs, so every completion satisfies
 * exactly one dependent; only the directive's size differs. Completions of the two are interleaved
 * in rounds so that drift of the machine affects both alike.
 */
import type { Pool } from "pg";
import type { BenchContext } from "../context";
import { mean, nowMs, percentile, round } from "../stats";

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

/** Times report_task_status(completed) for one root (its task is created untimed). */
async function completeOne(pool: Pool, stepId: string): Promise<number> {
  const t = (await pool.query<{ id: string }>("select id from baton.create_execution_task($1)", [stepId])).rows[0]!.id;
  const start = nowMs();
  await pool.query("select baton.report_task_status($1, 'completed')", [t]);
  return nowMs() - start;
}

export async function sizeScenario(ctx: BenchContext): Promise<void> {
  const { pool } = await ctx.freshDatabase();
  const owner = (await pool.query<{ id: string }>("select id from baton.create_owner('bench')")).rows[0]!.id;
  const completions = ctx.quick ? 100 : 400;
  const bigSize = ctx.quick ? 2000 : 10000;
  ctx.log(`size: building a ${bigSize}-step directive and ${completions / 5} 10-step ones`);
  const bigRoots = await pairsDirective(pool, owner, bigSize / 2);
  const smallRoots: string[] = [];
  for (let i = 0; i < completions / 5; i++) smallRoots.push(...(await pairsDirective(pool, owner, 5)));
  // Warm up both paths.
  for (let i = 0; i < 10; i++) {
    await completeOne(pool, bigRoots.pop()!);
    await completeOne(pool, smallRoots.pop()!);
  }
  const big: number[] = [];
  const small: number[] = [];
  while (big.length < completions - 10 && bigRoots.length && smallRoots.length) {
    big.push(await completeOne(pool, bigRoots.pop()!));
    small.push(await completeOne(pool, smallRoots.pop()!));
  }
  const ratio = mean(big) / mean(small);
  ctx.figure({ scenario: "size", name: `completion in a ${bigSize}-step directive, mean`, value: round(mean(big), 3), unit: "ms" });
  ctx.figure({ scenario: "size", name: "completion in a 10-step directive, mean", value: round(mean(small), 3), unit: "ms" });
  ctx.figure({ scenario: "size", name: `completion p50 (${bigSize} / 10 steps)`, value: round(percentile(big, 50) / percentile(small, 50), 3), unit: "ratio" });
  ctx.figure({ scenario: "size", name: `size ratio (${bigSize} / 10 steps, mean)`, value: round(ratio, 3), unit: "ratio", target: "<= 1.3", met: ratio <= 1.3 });
}
