/*
 * The daemon's heartbeat: every interval, the tasks it runs; each success renews the lease (lease.ts).
 *
 * One heartbeat at a time, never behind a report: a slow report must not delay the lease renewal.
 * A heartbeat asked for while one is in flight goes right after it (it lists the tasks when it is
 * sent). A `running` report may overtake a heartbeat composed before its task was spawned; the
 * server spares a task that became running after the previous heartbeat (sql/000011_daemons_and_dispatch.sql),
 * which is sound because heartbeats do not overlap.
 */
import { HeartbeatDocument } from "../client/generated/graphql";
import type { GraphQLClient } from "../client/graphql";
import type { Logger } from "../logger";
import type { Lease } from "./lease";

export type HeartbeatOptions = {
  api: GraphQLClient;
  daemonId: string;
  lease: Lease;
  intervalMs: number;
  /** The tasks to claim: those running here whose attempt is not fenced. */
  activeTaskIds: () => string[];
  logger: Logger;
};

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: HeartbeatOptions) {}

  /** Starts the interval and sends the first heartbeat. */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.beat(), this.opts.intervalMs);
    await this.beat();
  }

  async beat(): Promise<void> {
    if (this.stopped) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    const { api, lease, intervalMs } = this.opts;
    const sentAt = lease.now();
    try {
      const r = await api.request(
        HeartbeatDocument,
        { d: this.opts.daemonId, ids: this.opts.activeTaskIds() },
        { timeoutMs: Math.min(10_000, Math.max(2_000, 2 * intervalMs)) },
      );
      lease.renewed(sentAt, r.heartbeat?.result);
    } catch (err) {
      this.opts.logger.warn("heartbeat failed", { error: (err as Error).message });
    } finally {
      this.inFlight = false;
    }
    if (this.again) {
      this.again = false;
      void this.beat();
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}
