/*
 * The daemon's side of its lease, and the fence in front of every side effect.
 *
 * The server gives a daemon's tasks to another daemon once the daemon has not heartbeated for the
 * lease (BATON_DAEMON_LEASE_SECONDS; the heartbeat returns lastHeartbeatAt and leaseExpiresAt, whose
 * difference is the lease length in server time). The daemon counts the lease from when it *sent*
 * its last successful heartbeat, on its own monotonic clock: the server stamped that heartbeat later,
 * so the daemon's lease always ends first. When it ends, `onLost` stops the agents, and the attempts
 * they ran publish nothing (no push, no report); the server interrupts them and retries the steps.
 *
 * Before a push, `assertMayPublish` checks that the lease is held and that the server still has the
 * task running on this daemon. Each attempt pushes a branch of its own, without --force, so even a
 * push that races the fence cannot overwrite another attempt's work.
 */
import { z } from "zod";
import { TaskFactsDocument } from "../client/generated/graphql";
import { GraphQLRequestError, type GraphQLClient } from "../client/graphql";

export class FencedError extends Error {}

const LeaseFacts = z.object({ lastHeartbeatAt: z.string(), leaseExpiresAt: z.string() });

export class Lease {
  private validUntil: number | undefined;
  private lengthMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lost = false;

  constructor(
    private readonly onLost: () => void,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** A heartbeat sent at `sentAt` (this.now()) succeeded; `facts` is the daemon row it returned. */
  renewed(sentAt: number, facts: unknown): void {
    const f = LeaseFacts.parse(facts);
    const length = Date.parse(f.leaseExpiresAt) - Date.parse(f.lastHeartbeatAt);
    if (!(length > 0)) throw new Error(`The server answered a lease of ${length} ms.`);
    this.lengthMs = length;
    // Heartbeats do not overlap, but keep the later deadline if an earlier one answers last.
    this.validUntil = Math.max(this.validUntil ?? 0, sentAt + length);
    this.lost = false;
    this.arm();
  }

  /** The lease length the server answered (undefined before the first heartbeat). */
  get leaseMs(): number | undefined {
    return this.lengthMs;
  }

  /** True while the last successful heartbeat is younger than the lease. */
  get held(): boolean {
    return this.validUntil !== undefined && this.now() < this.validUntil;
  }

  remainingMs(): number {
    return this.validUntil === undefined ? 0 : Math.max(0, this.validUntil - this.now());
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), Math.ceil(this.remainingMs()) + 1);
    this.timer.unref();
  }

  private check(): void {
    if (this.held) return this.arm();
    if (this.lost) return;
    this.lost = true;
    this.onLost();
  }
}

const TaskFacts = z.object({ status: z.string(), daemonId: z.string().nullable() });

/**
 * Resolves when this daemon may publish the task's work: its lease is held and the server has the
 * task running on it. Throws FencedError otherwise. While the API is unreachable it retries until the
 * lease runs out (then nobody would accept the work anyway).
 */
export async function assertMayPublish(api: GraphQLClient, daemonId: string, lease: Lease, taskId: string): Promise<void> {
  for (;;) {
    if (!lease.held) throw new FencedError("the daemon's lease ran out (no successful heartbeat for the lease period)");
    try {
      const data = await api.request(TaskFactsDocument, { id: taskId }, {
        timeoutMs: Math.max(1000, Math.min(10_000, lease.remainingMs())),
      });
      const task = TaskFacts.safeParse(data.task);
      if (!task.success) throw new FencedError("the task is no longer readable by this daemon");
      // `checking`: the agent exited 0 and the step's check passed; the work is published before `completed`.
      // `waiting`: the agent exited 0 while a question of its was open (its `baton ask` was killed); the
      // server accepts checking or completed from waiting and cancels the question.
      if (task.data.daemonId !== daemonId || !["running", "checking", "waiting"].includes(task.data.status)) throw new FencedError(`the task is ${task.data.status} on the server`);
      if (!lease.held) throw new FencedError("the daemon's lease ran out (no successful heartbeat for the lease period)");
      return;
    } catch (err) {
      const retryable = err instanceof GraphQLRequestError && (err.kind === "network" || err.code === "INTERNAL");
      if (!retryable) throw err;
      await new Promise((r) => setTimeout(r, Math.min(500, Math.ceil(lease.remainingMs()) + 1)));
    }
  }
}
