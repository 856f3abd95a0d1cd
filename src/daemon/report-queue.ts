/*
 * Task status reports, delivered. A report the server never received (it is restarting, the network
 * dropped) is sent again with backoff. Dropped, the finished task left `running` here, so the next
 * heartbeat had the server count it lost and run it again. The task pool keeps the task while its
 * report is retried, so heartbeats keep claiming it. A refusal (BTSTL, BTSTS, ...) is final, and so
 * is a failure while stopping or once the attempt is fenced.
 */
import { ReportTaskStatusDocument } from "../client/generated/graphql";
import { GraphQLRequestError, type GraphQLClient } from "../client/graphql";
import type { Logger } from "../logger";
import type { TaskStatus } from "../statuses";

/** The statuses a daemon reports: it moves a task from `starting` to `running` (then `checking` while a check runs), then to its outcome. */
export type ReportedStatus = Extract<TaskStatus, "running" | "checking" | "completed" | "failed" | "interrupted">;

export type ReportExtra = {
  /** The version the daemon read: of two spawns of one task, only one moves it from `starting`. */
  expectedVersion?: number;
  error?: string;
  branch?: string | null;
  commit?: string | null;
  /** An integration's result URL (the first URL its on-complete command printed). */
  resultUrl?: string | null;
  /** Called when the server refuses the attempt for good (interrupted meanwhile, or no longer ours). */
  onRefused?: () => Promise<void>;
};

/** How long a report that cannot reach the server is retried (well past any lease: after that it is moot). */
const REPORT_RETRY_MS = 5 * 60_000;

export class ReportQueue {
  constructor(
    private readonly api: GraphQLClient,
    /** False once retrying is pointless: the daemon is stopping, or the task's attempt was fenced. */
    private readonly mayRetry: (taskId: string) => boolean,
    private readonly logger: Logger,
  ) {}

  /** True when the server took the report. */
  async send(taskId: string, status: ReportedStatus, extra: ReportExtra = {}): Promise<boolean> {
    const deadline = Date.now() + REPORT_RETRY_MS;
    for (let backoff = 250; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        await this.api.request(ReportTaskStatusDocument, {
          t: taskId,
          s: status,
          v: extra.expectedVersion ?? null,
          e: extra.error ?? null,
          b: extra.branch ?? null,
          c: extra.commit ?? null,
          u: extra.resultUrl ?? null,
        });
        return true;
      } catch (err) {
        const e = err instanceof GraphQLRequestError ? err : new GraphQLRequestError((err as Error).message, undefined, "graphql");
        // INTERNAL is what the API says while its database is unreachable (a restart): worth retrying too.
        const retryable = e.kind === "network" || e.code === "INTERNAL";
        if (retryable && this.mayRetry(taskId) && Date.now() + backoff < deadline) {
          this.logger.warn("report failed; retrying", { task_id: taskId, status, error: e.message, retry_in_ms: backoff });
          await new Promise((r) => setTimeout(r, backoff));
          continue;
        }
        this.logger.warn("report rejected", { task_id: taskId, status, error: e.message, code: e.code });
        if (e.code === "BTSTL" || e.code === "BTDNY") await extra.onRefused?.();
        return false;
      }
    }
  }
}
