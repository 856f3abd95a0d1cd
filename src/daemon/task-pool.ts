/*
 * The tasks this daemon holds: at most maxTasks run at once, each at most once per process.
 *
 * A task is spawned from a notification and again by every re-sync, so `seen` keeps the second spawn
 * from running it twice (the `running` report's version fence covers two processes). A task beyond
 * maxTasks waits in `deferred` for a slot instead of being dropped: the server counts a slot free as
 * soon as a task's final report commits, while this process still holds the finished task until its
 * worktree is removed, and the next task is often assigned in that gap. Dropped, it stayed `starting`
 * until the lease ran out and was then retried as lost.
 */
import type { Logger } from "../logger";
import type { AgentProcess } from "./agent-process";

/** `fenced`: the lease ran out while the task ran; the attempt publishes nothing. */
export type HeldTask = { agent?: AgentProcess; interrupted?: string; started?: boolean; fenced?: boolean };

export type TaskPoolOptions = {
  maxTasks: number;
  logger: Logger;
  /** Runs one task to its end (task-runner.ts). */
  run: (taskId: string, task: HeldTask) => Promise<void>;
  /** A run failed before its agent started: look for the task again soon (it is still `starting`). */
  retrySoon: () => void;
  /** A slot became free: tell the server now rather than at the next heartbeat. */
  slotFreed: () => void;
};

export class TaskPool {
  private readonly held = new Map<string, HeldTask>();
  private readonly seen = new Set<string>();
  private readonly deferred = new Set<string>();
  private idle: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: TaskPoolOptions) {}

  get(taskId: string): HeldTask | undefined {
    return this.held.get(taskId);
  }

  /** The tasks a heartbeat claims: every held task whose attempt is not fenced. */
  activeIds(): string[] {
    return [...this.held].filter(([, t]) => !t.fenced).map(([id]) => id);
  }

  spawn(taskId: string): void {
    if (this.closed || this.held.has(taskId) || this.seen.has(taskId)) return;
    if (this.held.size >= this.opts.maxTasks) {
      this.opts.logger.debug("task deferred until a slot is free", { task_id: taskId });
      this.deferred.add(taskId);
      return;
    }
    this.deferred.delete(taskId);
    this.seen.add(taskId);
    const task: HeldTask = {};
    this.held.set(taskId, task);
    const run = this.opts
      .run(taskId, task)
      .catch((err: Error) => {
        this.opts.logger.error("task run failed", { task_id: taskId, error: err.message });
        // Failed before the agent started (the API or its database was away): forget the task, so
        // the next re-sync finds it still `starting` and runs it, instead of waiting for the lease.
        if (!task.started) {
          this.seen.delete(taskId);
          this.opts.retrySoon();
        }
      })
      .finally(() => {
        this.held.delete(taskId);
        for (const id of [...this.deferred]) this.spawn(id);
        this.opts.slotFreed();
      });
    this.idle = Promise.all([this.idle, run]).then(() => undefined);
  }

  interrupt(taskId: string, reason: string): void {
    const task = this.held.get(taskId);
    if (!task) return;
    task.interrupted = reason;
    task.agent?.interrupt(reason);
  }

  /** Tasks whose agent started and whose attempt is not fenced yet. */
  unfencedStarted(): string[] {
    return [...this.held].filter(([, t]) => t.started && !t.fenced).map(([id]) => id);
  }

  /** The lease ran out: these attempts are fenced (they publish nothing) and their agents stopped. */
  fence(taskIds: readonly string[], reason: string): void {
    for (const id of taskIds) {
      const task = this.held.get(id);
      if (!task) continue;
      task.fenced = true;
      this.interrupt(id, reason);
    }
  }

  /** Takes no more tasks, interrupts the held ones, and resolves when every run has ended. */
  async close(reason: string): Promise<void> {
    this.closed = true;
    for (const id of this.held.keys()) this.interrupt(id, reason);
    await this.idle;
  }
}
