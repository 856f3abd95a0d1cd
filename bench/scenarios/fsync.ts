/*
 * fsync: the chain and its baselines again with fsync on (ALTER SYSTEM + reload; the other scenarios
 * run with fsync off, as the bench always did), so the figures include flushing WAL at every commit
 * as a production database does. Needs a superuser login (the bench's embedded PostgreSQL has one);
 * with DATABASE_URL, a server whose fsync cannot be changed is reported and skipped.
 */
import { Client } from "pg";
import type { BenchContext } from "../context";
import { percentile, round } from "../stats";
import { HOP_RATIO_TARGET, REPORT_TX_TARGET_MS, runChain } from "./chain";
import { bareWorkerChain, floor } from "./hop";

async function setFsync(adminUrl: string, on: boolean): Promise<boolean> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`alter system set fsync = ${on ? "on" : "off"}`);
    await admin.query("select pg_reload_conf()");
    // A reload is asynchronous: wait until this backend sees it.
    for (let i = 0; i < 100; i++) {
      const r = await admin.query<{ fsync: string }>("select current_setting('fsync') as fsync");
      if (r.rows[0]!.fsync === (on ? "on" : "off")) return true;
      await new Promise((res) => setTimeout(res, 50));
    }
    return false;
  } finally {
    await admin.end();
  }
}

export async function fsyncScenario(ctx: BenchContext): Promise<void> {
  const steps = ctx.quick ? 30 : 200;
  let switched: boolean;
  try {
    switched = await setFsync(ctx.adminUrl, true);
  } catch (err) {
    ctx.log(`fsync: skipped, fsync cannot be changed here (${(err as Error).message})`);
    return;
  }
  if (!switched) throw new Error("fsync did not turn on after a reload");
  try {
    ctx.log(`fsync: floor, bare graphile-worker and a ${steps}-step chain with fsync on`);
    const { url, pool } = await ctx.freshDatabase();
    const fl = await floor(url, steps);
    const bare = await bareWorkerChain(pool, steps);
    const chain = await runChain(ctx, steps, "chain, fsync on");
    const p50 = percentile(chain.hops, 50);
    const bare50 = percentile(bare, 50);
    ctx.figure({ scenario: "fsync", name: "floor: UPDATE + NOTIFY -> LISTEN, p50", value: round(percentile(fl, 50)), unit: "ms" });
    ctx.figure({ scenario: "fsync", name: "bare graphile-worker hop, p50", value: round(bare50), unit: "ms" });
    ctx.figure({ scenario: "fsync", name: `chain hop (${steps} steps), p50`, value: round(p50), unit: "ms" });
    ctx.figure({ scenario: "fsync", name: "chain hop, p99", value: round(percentile(chain.hops, 99)), unit: "ms" });
    ctx.figure({ scenario: "fsync", name: "chain hop p50 / bare graphile-worker hop p50", value: round(p50 / bare50), unit: "ratio", target: `<= ${HOP_RATIO_TARGET}`, met: p50 / bare50 <= HOP_RATIO_TARGET });
    if (chain.reportTx?.length) {
      const tx50 = percentile(chain.reportTx, 50);
      ctx.figure({ scenario: "fsync", name: "report transaction (BEGIN -> commit), p50", value: round(tx50, 3), unit: "ms", target: `<= ${REPORT_TX_TARGET_MS}`, met: tx50 <= REPORT_TX_TARGET_MS });
    }
  } finally {
    await setFsync(ctx.adminUrl, false);
  }
}
