/*
 * daemons: 1,000 daemons (100 with --quick) connected to one `baton server` (its worker inside, so the
 * lease sweep runs too), each registered through the API, with its daemonCommands websocket and a
 * heartbeat mutation every 10 s at its own phase, for 60 s (10 s with --quick). Figures: heartbeat
 * round trip p50/p99 and the server's resident memory, against issue 10's targets.
 */
import { analyze, startApi } from "../api-server";
import type { BenchContext } from "../context";
import { FakeDaemons } from "../fake-daemons";
import { createOwner } from "../shapes";
import { percentile, round } from "../stats";

export const HEARTBEAT_P99_TARGET_MS = 50;
export const SERVER_RSS_TARGET_MB = 300;

export async function daemonsScenario(ctx: BenchContext): Promise<void> {
  const count = ctx.quick ? 100 : 1000;
  const seconds = ctx.quick ? 10 : 60;
  const periodMs = 10_000;
  ctx.log(`daemons: ${count} daemons on one baton server, a heartbeat each every ${periodMs / 1000} s, for ${seconds} s`);
  const { url, pool } = await ctx.freshDatabase();
  const owner = await createOwner(pool);
  const api = await startApi(url, pool, { worker: true });
  let daemons: FakeDaemons | undefined;
  let heartbeats: number[];
  let rssEnd: number, rssPeak: number, rssIdle: number;
  try {
    rssIdle = api.server.rssMb();
    daemons = await FakeDaemons.start(pool, { graphqlUrl: api.graphqlUrl, ownerToken: await api.ownerToken(owner), count, maxTasks: 4, autoComplete: true, heartbeatMs: periodMs });
    await analyze(pool);
    await ctx.profile.begin(`${count} daemons, ${seconds} s of heartbeats`);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    heartbeats = [...daemons.heartbeats];
    await ctx.profile.end(heartbeats.length);
    rssEnd = api.server.rssMb();
    rssPeak = api.server.peakRssMb();
  } finally {
    await daemons?.stop();
    await api.stop();
  }
  const p99 = percentile(heartbeats, 99);
  ctx.figure({ scenario: "daemons", name: `heartbeats through the API (${count} daemons, ${seconds} s)`, value: heartbeats.length, unit: "heartbeats" });
  ctx.figure({ scenario: "daemons", name: "heartbeat round trip, p50", value: round(percentile(heartbeats, 50)), unit: "ms" });
  ctx.figure({ scenario: "daemons", name: "heartbeat round trip, p99", value: round(p99), unit: "ms", target: `<= ${HEARTBEAT_P99_TARGET_MS}`, met: p99 <= HEARTBEAT_P99_TARGET_MS });
  ctx.figure({ scenario: "daemons", name: "baton server RSS before the daemons connected", value: round(rssIdle, 1), unit: "MB" });
  ctx.figure({ scenario: "daemons", name: `baton server RSS with ${count} daemons (end)`, value: round(rssEnd, 1), unit: "MB" });
  ctx.figure({ scenario: "daemons", name: "baton server peak RSS (VmHWM)", value: round(rssPeak, 1), unit: "MB", target: `<= ${SERVER_RSS_TARGET_MB}`, met: rssPeak <= SERVER_RSS_TARGET_MB });
}
