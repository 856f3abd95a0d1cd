/*
 * Fake daemons for the scenarios, on the real path: each registers through the API with an owner
 * token (registerDaemon), fetches its own daemon token (daemonToken), subscribes to daemonCommands
 * over graphql-ws (so every daemon shares the server's one LISTEN connection), and reports with
 * reportTaskStatus and heartbeat mutations over HTTP with its daemon token, as `baton daemon run`
 * does. They spawn nothing: a task is completed the moment its spawn_task arrives (autoComplete),
 * after holdMs (a daemon kept busy, as with agents running for minutes), or when the scenario
 * completes it. Every arrival, report and heartbeat is timed (nowMs) for the figures.
 */
import { createClient, type Client as WsClient } from "graphql-ws/client";
import type { Pool } from "pg";
import WebSocket from "ws";
import { ApiClient } from "./api";
import { nowMs } from "./stats";

export type TaskRecord = {
  taskId: string;
  daemonId: string;
  /** When the spawn_task arrived. */
  receivedAt: number;
  /** When the `completed` report was sent, and when it returned. */
  reportSentAt?: number;
  reportAckAt?: number;
  /** The task's step (null for planning tasks); filled by resolveSteps after the run. */
  stepId?: string | null;
};

export type FakeDaemonOptions = {
  /** The server's /graphql URL and an owner token of the owner the daemons belong to. */
  graphqlUrl: string;
  ownerToken: string;
  count: number;
  maxTasks: number;
  autoComplete: boolean;
  /** With autoComplete: complete each task this long after it arrived (default 0). */
  holdMs?: number;
  /** Heartbeat period of each daemon (default 5 s), each at its own phase. */
  heartbeatMs?: number;
  name?: string;
};

// The same operations as src/daemon/daemon.ts sends.
const REPORT = `mutation($t: UUID!, $s: String!, $v: Int, $e: String, $b: String, $c: String) {
            reportTaskStatus(input: { taskId: $t, status: $s, expectedVersion: $v, error: $e, branch: $b, commitSha: $c }) { clientMutationId } }`;
const HEARTBEAT = `mutation($d: UUID!, $ids: [UUID]) { heartbeat(input: { daemonId: $d, activeTaskIds: $ids }) { result { lastHeartbeatAt leaseExpiresAt } } }`;
const SUBSCRIBE = `subscription($d: UUID!) { daemonCommands(daemonId: $d) { type taskId } }`;
/** A command only the bench sends (pg_notify on the daemon's channel): proves the subscription is live. */
const SENTINEL = "bench_ready";

type Daemon = { id: string; api: ApiClient; ws: WsClient; held: Set<string>; ready: boolean; beat?: NodeJS.Timeout; beating: boolean };
type Waiter = { done: () => boolean; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** Runs fn over items with at most `limit` at a time. */
async function pooled<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

export class FakeDaemons {
  readonly records = new Map<string, TaskRecord>();
  /** Round-trip times of every heartbeat mutation, in ms. */
  readonly heartbeats: number[] = [];
  received = 0;
  completed = 0;
  private daemons: Daemon[] = [];
  private waiters = new Set<Waiter>();
  private failure: Error | undefined;
  private stopped = false;

  private constructor(private readonly opts: FakeDaemonOptions) {}

  /** Registers and subscribes every daemon; resolves once each subscription has received a sentinel NOTIFY sent through the pool. */
  static async start(pool: Pool, opts: FakeDaemonOptions): Promise<FakeDaemons> {
    const fleet = new FakeDaemons(opts);
    const owner = new ApiClient(opts.graphqlUrl, opts.ownerToken);
    try {
      await pooled(
        Array.from({ length: opts.count }, (_, i) => i),
        16,
        async (i) => {
          const reg = await owner.request<{ registerDaemon: { result: { rowId: string } } }>(
            `mutation($name: String!, $host: String, $max: Int) { registerDaemon(input: { name: $name, hostname: $host, maxTasks: $max }) { result { rowId } } }`,
            { name: `${opts.name ?? "bench"}-${i}`, host: "bench", max: opts.maxTasks },
          );
          const id = reg.registerDaemon.result.rowId;
          const { daemonToken } = await owner.request<{ daemonToken: string }>(`query($d: UUID!) { daemonToken(daemonId: $d) }`, { d: id });
          fleet.daemons.push(fleet.connect(id, daemonToken));
        },
      );
    } finally {
      owner.close();
    }
    // graphql-ws gives no "subscribed" acknowledgement: NOTIFY a sentinel until every daemon heard one.
    const waitMs = 60_000 + opts.count * 50;
    const deadline = Date.now() + waitMs;
    while (fleet.daemons.some((d) => !d.ready)) {
      if (fleet.failure) throw fleet.failure;
      if (Date.now() > deadline) throw new Error(`${fleet.daemons.filter((d) => !d.ready).length} of ${opts.count} daemons' daemonCommands subscriptions were not live after ${waitMs / 1000} s`);
      const waiting = fleet.daemons.filter((d) => !d.ready).map((d) => d.id);
      await pool.query(`select pg_notify('baton:daemon:' || id, json_build_object('type', '${SENTINEL}', 'task_id', id)::text) from unnest($1::uuid[]) as id`, [waiting]);
      await new Promise((r) => setTimeout(r, 250));
    }
    const period = opts.heartbeatMs ?? 5000;
    for (const d of fleet.daemons) {
      // Each at its own phase, as daemons started at different times are.
      const first = setTimeout(() => {
        void fleet.beat(d);
        d.beat = setInterval(() => void fleet.beat(d), period);
      }, Math.random() * period);
      d.beat = first;
    }
    return fleet;
  }

  private connect(id: string, token: string): Daemon {
    const api = new ApiClient(this.opts.graphqlUrl, token);
    const ws = createClient({
      url: this.opts.graphqlUrl.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      lazy: false,
      retryAttempts: 0,
      keepAlive: 10_000,
      onNonLazyError: (err) => this.fail(new Error(`daemon ${id}'s websocket failed: ${String((err as Error).message ?? err)}`)),
    });
    const d: Daemon = { id, api, ws, held: new Set(), ready: false, beating: false };
    ws.subscribe<{ daemonCommands: { type: string; taskId: string } }>(
      { query: SUBSCRIBE, variables: { d: id } },
      {
        next: (msg) => {
          const cmd = msg.data?.daemonCommands;
          if (msg.errors?.length) return this.fail(new Error(`daemonCommands of ${id}: ${msg.errors[0]!.message}`));
          if (cmd?.type === SENTINEL) d.ready = true;
          else if (cmd?.type === "spawn_task") this.onSpawn(d, cmd.taskId);
        },
        error: (err) => this.stopped || this.fail(new Error(`daemonCommands of ${id} failed: ${String((err as Error).message ?? JSON.stringify(err))}`)),
        complete: () => this.stopped || this.fail(new Error(`daemonCommands of ${id} ended`)),
      },
    );
    return d;
  }

  private onSpawn(d: Daemon, taskId: string): void {
    const receivedAt = nowMs();
    if (this.records.has(taskId)) return;
    this.records.set(taskId, { taskId, daemonId: d.id, receivedAt });
    d.held.add(taskId);
    this.received++;
    if (this.opts.autoComplete) {
      const go = () => void this.complete(taskId).catch(() => undefined);
      if (this.opts.holdMs) setTimeout(go, this.opts.holdMs);
      else go();
    }
    this.check();
  }

  /** Reports a held task completed with its daemon's token. */
  async complete(taskId: string): Promise<TaskRecord> {
    const rec = this.records.get(taskId);
    if (!rec) throw new Error(`task ${taskId} was never received`);
    const d = this.daemons.find((x) => x.id === rec.daemonId)!;
    try {
      rec.reportSentAt = nowMs();
      await d.api.request(REPORT, { t: taskId, s: "completed", v: null, e: null, b: null, c: null });
      rec.reportAckAt = nowMs();
      d.held.delete(taskId);
      this.completed++;
      this.check();
      return rec;
    } catch (err) {
      this.fail(new Error(`completing task ${taskId} failed: ${(err as Error).message}`));
      throw err;
    }
  }

  /** Fills every record's stepId (the daemons ask only for clientMutationId, as the real one does). */
  async resolveSteps(pool: Pool): Promise<void> {
    const r = await pool.query<{ id: string; step_id: string | null }>("select id, step_id from baton.tasks where id = any($1::uuid[])", [[...this.records.keys()]]);
    for (const row of r.rows) this.records.get(row.id)!.stepId = row.step_id;
  }

  /** Tasks received and not yet completed. */
  held(): string[] {
    return this.daemons.flatMap((d) => [...d.held]);
  }

  get ids(): string[] {
    return this.daemons.map((d) => d.id);
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
    if (this.stopped) return;
    this.failure ??= err;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }

  /** A heartbeat naming the tasks the daemon holds, so the sweep never interrupts them; one at a time per daemon, as the real one. */
  private async beat(d: Daemon): Promise<void> {
    if (this.stopped || d.beating) return;
    d.beating = true;
    const start = nowMs();
    try {
      await d.api.request(HEARTBEAT, { d: d.id, ids: [...d.held] });
      this.heartbeats.push(nowMs() - start);
    } catch (err) {
      this.fail(new Error(`heartbeat failed: ${(err as Error).message}`));
    } finally {
      d.beating = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
    for (const d of this.daemons) {
      clearTimeout(d.beat);
      clearInterval(d.beat);
      d.api.close();
    }
    await Promise.all(this.daemons.map((d) => Promise.resolve(d.ws.dispose()).catch(() => undefined)));
  }
}
