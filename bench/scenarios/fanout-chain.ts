/*
 * fanout-chain: does one wide fan-out starve everyone else? A second owner runs 5-step chains (one
 * fake daemon completing on arrival) against the same server and worker: first alone, then while the
 * fan-out's 1 -> 2,000 (300 with --quick) is being dispatched. Figures: the chain's hop p50/p99 in
 * both phases, and the fan-out's dispatch time beside them.
 */
import type { BenchContext } from "../context";
import { FakeDaemons } from "../fake-daemons";
import { hopsOf } from "../hops";
import { chainSteps, createDirective, createOwner, type BuiltDirective } from "../shapes";
import { percentile, round } from "../stats";
import { FANOUT_TARGET_MS, FANOUT_TARGET_WIDTH, fanoutWidth, startFanout } from "./fanout";

const CHAIN = 5;

export async function fanoutBesideChainScenario(ctx: BenchContext): Promise<void> {
  const width = fanoutWidth(ctx);
  const alone = ctx.quick ? 8 : 25;
  ctx.log(`fanout-chain: ${CHAIN}-step chains of another owner, ${alone} alone, then during a 1 -> ${width} fan-out`);
  let chains: FakeDaemons | undefined;
  const drafts: BuiltDirective[] = [];
  const f = await startFanout(ctx, width, async (pool, api) => {
    const owner = await createOwner(pool, "chain owner");
    // Enough drafts for the fan-out's whole dispatch at today's speed (a chain takes ~100 ms).
    for (let i = 0; i < alone + (ctx.quick ? 100 : 400); i++) drafts.push(await createDirective(pool, owner, `chain ${i}`, chainSteps(CHAIN)));
    chains = await FakeDaemons.start(pool, { graphqlUrl: api.graphqlUrl, ownerToken: await api.ownerToken(owner), count: 1, maxTasks: 4, autoComplete: true, name: "chain" });
  });
  const c = chains!;
  const deps = new Map<string, string[]>();
  for (const d of drafts) for (const [k, v] of d.deps) deps.set(k, v);
  let run = 0;
  /** Runs the next 5-step chain to its end; false when the drafts ran out (the hops measured so far still count). */
  const runChain = async (): Promise<boolean> => {
    const d = drafts[run++];
    if (!d) return false;
    const target = c.completed + CHAIN;
    await f.pool.query("select baton.start_directive($1)", [d.id]);
    await c.until(() => c.completed >= target, 60_000, "a 5-step chain");
    return true;
  };
  let dispatchMs: number;
  let aloneHops: number[], besideHops: number[];
  try {
    for (let i = 0; i < alone; i++) await runChain();
    await c.resolveSteps(f.pool);
    aloneHops = hopsOf(c.records.values(), deps);
    const seen = new Set(c.records.keys());
    let dispatched = false;
    const loop = (async () => {
      while (!dispatched && (await runChain()));
    })();
    await ctx.profile.begin(`dispatch of ${width} beside chains`);
    const { root, children } = await f.release();
    dispatched = true;
    await ctx.profile.end(width);
    await loop;
    dispatchMs = Math.max(...children.map((r) => r.receivedAt)) - root.reportSentAt!;
    await c.resolveSteps(f.pool);
    // Hops whose chain step arrived while the fan-out was being dispatched.
    const end = root.reportSentAt! + dispatchMs;
    const during = [...c.records.values()].filter((r) => !seen.has(r.taskId) && r.receivedAt >= root.reportSentAt! && r.receivedAt <= end);
    const duringSteps = new Set(during.map((r) => r.stepId!));
    besideHops = hopsOf(c.records.values(), new Map([...deps].filter(([step]) => duringSteps.has(step))));
  } finally {
    await c.stop();
    await f.stop();
  }
  const full = width === FANOUT_TARGET_WIDTH;
  ctx.figure({ scenario: "fanout-chain", name: `chain hop alone (${aloneHops.length} hops), p50`, value: round(percentile(aloneHops, 50)), unit: "ms" });
  ctx.figure({ scenario: "fanout-chain", name: "chain hop alone, p99", value: round(percentile(aloneHops, 99)), unit: "ms" });
  ctx.figure({ scenario: "fanout-chain", name: `chain hop during the 1 -> ${width} dispatch (${besideHops.length} hops), p50`, value: round(percentile(besideHops, 50)), unit: "ms" });
  ctx.figure({ scenario: "fanout-chain", name: "chain hop during the dispatch, p99", value: round(percentile(besideHops, 99)), unit: "ms" });
  ctx.figure({
    scenario: "fanout-chain",
    name: `dispatch ${width} beside the chains (root completed -> last spawn_task)`,
    value: round(dispatchMs),
    unit: "ms",
    target: full ? `<= ${FANOUT_TARGET_MS}` : `<= ${FANOUT_TARGET_MS} at ${FANOUT_TARGET_WIDTH} (full run)`,
    ...(full ? { met: dispatchMs <= FANOUT_TARGET_MS } : {}),
  });
}
