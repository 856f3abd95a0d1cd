/*
 * Fake daemons for the scenarios. Each is registered with baton.register_daemon, LISTENs on its own
 * channel and reports on a separate connection with baton.report_task_status(daemon_id => ...), as a
 * real daemon does, but spawns nothing: a task is completed the moment its spawn_task arrives
 * (autoComplete), or held until the scenario completes it. Every task's arrival and report are
 * timed (nowMs), so scenarios compute hops afterwards. Heartbeats keep the lease while tasks are held.
 */
import { Client, type Pool } from "pg";
import { nowMs } from "./stats";

export type TaskRecord = {
  taskId: string;
  daemonId: string;
  /** When the spawn_task arrived. */
  receivedAt: number;
  /** When the `completed` report was sent, and when it returned. */
  reportSentAt?: number;
  reportAckAt?: number;
  /** The task's step (from the report's returned row; null for planning tasks). */
  stepId?: string | null;
};

export type FakeDaemonOptions = { owner: string; count: number; maxTasks: number; autoComplete: boolean; heartbeatMs?: number };

/** queue: the reporter's statements, one at a time (pg 8 deprecates overlapping queries on a client). */
type Daemon = { id: string; listener: Client; reporter: Client; held: Set<string>; queue: Promise<unknown> };
type Waiter = { done: () => boolean; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class FakeDaemons {
  readonly records = new Map<string, TaskRecord>();
  received = 0;
  completed = 0;
  private daemons: Daemon[] = [];
  private waiters = new Set<Waiter>();
  private failure: Error | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor() {}

  static async start(url: string, pool: Pool, opts: FakeDaemonOptions): Promise<FakeDaemons> {
    const fleet = new FakeDaemons();
    for (let i = 0; i < opts.count; i++) {
      const r = await pool.query<{ id: string }>("select id from baton.register_daemon($1, max_tasks => $2, owner_id => $3)", [`bench-${i}`, opts.maxTasks, opts.owner]);
      const d: Daemon = { id: r.rows[0]!.id, listener: new Client({ connectionString: url }), reporter: new Client({ connectionString: url }), held: new Set(), queue: Promise.resolve() };
      for (const c of [d.listener, d.reporter]) c.on("error", (err) => fleet.fail(new Error(`daemon ${d.id}'s connection failed: ${err.message}`)));
      await d.listener.connect();
      await d.reporter.connect();
      d.listener.on("notification", (msg) => fleet.onNotification(d, msg.payload, opts.autoComplete));
      await d.listener.query(`listen "baton:daemon:${d.id}"`);
      fleet.daemons.push(d);
    }
    fleet.heartbeat = setInterval(() => fleet.beat(), opts.heartbeatMs ?? 5000);
    fleet.heartbeat.unref();
    return fleet;
  }

  private onNotification(d: Daemon, payload: string | undefined, autoComplete: boolean): void {
    const receivedAt = nowMs();
    const cmd = JSON.parse(payload ?? "{}") as { type?: string; task_id?: string };
    if (cmd.type !== "spawn_task" || !cmd.task_id || this.records.has(cmd.task_id)) return;
    this.records.set(cmd.task_id, { taskId: cmd.task_id, daemonId: d.id, receivedAt });
    d.held.add(cmd.task_id);
    this.received++;
    if (autoComplete) void this.complete(cmd.task_id).catch(() => undefined);
    this.check();
  }

  private onReporter<T>(d: Daemon, fn: (c: Client) => Promise<T>): Promise<T> {
    const p = d.queue.then(() => fn(d.reporter));
    d.queue = p.catch(() => undefined);
    return p;
  }

  /** Reports a held task completed on its daemon's connection. */
  async complete(taskId: string): Promise<TaskRecord> {
    const rec = this.records.get(taskId);
    if (!rec) throw new Error(`task ${taskId} was never received`);
    const d = this.daemons.find((x) => x.id === rec.daemonId)!;
    try {
      const r = await this.onReporter(d, (c) => {
        rec.reportSentAt = nowMs();
        return c.query<{ step_id: string | null }>(
          "select step_id from baton.report_task_status(task_id => $1, status => 'completed', daemon_id => $2)",
          [taskId, d.id],
        );
      });
      rec.reportAckAt = nowMs();
      rec.stepId = r.rows[0]?.step_id ?? null;
      d.held.delete(taskId);
      this.completed++;
      this.check();
      return rec;
    } catch (err) {
      this.fail(new Error(`completing task ${taskId} failed: ${(err as Error).message}`));
      throw err;
    }
  }

  /** Tasks received and not yet completed. */
  held(): string[] {
    return this.daemons.flatMap((d) => [...d.held]);
  }

  /** Resolves once done() holds (checked after every arrival and completion); rejects after timeoutMs or on a failed report. */
  until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        done,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (received ${this.received}, completed ${this.completed})`));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  private check(): void {
    for (const w of this.waiters) {
      if (w.done()) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }

  /** A heartbeat per daemon naming the tasks it holds, so the sweep never interrupts them. */
  private beat(): void {
    for (const d of this.daemons) {
      this.onReporter(d, (c) => c.query("select 1 from baton.heartbeat($1, $2::uuid[])", [d.id, [...d.held]])).catch((err: Error) => this.fail(new Error(`heartbeat failed: ${err.message}`)));
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
    await Promise.all(this.daemons.flatMap((d) => [d.listener.end().catch(() => undefined), d.reporter.end().catch(() => undefined)]));
  }
}
