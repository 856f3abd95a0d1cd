/*
 * A fake daemon for orchestrator tests: registers through SQL, LISTENs on its channel like a real
 * daemon, and answers each spawn_task with the outcome the test chooses. It reports through
 * baton.report_task_status with its own daemon id, so fencing applies.
 *
 * Two ways in: `start` picks the id, LISTENs, then inserts the daemon row (so the first spawn cannot
 * be missed); `attach` takes a daemon registered with baton.register_daemon, LISTENs, then catches up
 * on the tasks already assigned to it (`starting`), as a real daemon must after (re)connecting.
 */
import { Client } from "pg";
import type { TestDb } from "./db";

export type Command = { type: "spawn_task" | "interrupt_task"; task_id: string };
export type SpawnedTask = {
  id: string;
  kind: "planning" | "execution";
  step_id: string | null;
  directive_id: string;
  prompt: string | null;
  version: number;
  attempt: number | null;
  generation: number | null;
};
/** What to do with a spawned task: an outcome to report, or "hold" to keep it running until `finish`. */
export type Outcome = "completed" | "failed" | "hold";
export type Behaviour = (task: SpawnedTask, daemon: FakeDaemon) => Promise<Outcome> | Outcome;

type Options = { name?: string; maxTasks?: number; behaviour?: Behaviour };

export class FakeDaemon {
  readonly commands: Command[] = [];
  readonly spawned: SpawnedTask[] = [];
  readonly errors: unknown[] = [];
  private running = new Set<string>();
  private seen = new Set<string>();
  private caughtUp = new Set<string>();
  /** One query at a time on the daemon's connection (pg deprecates overlapping queries on one client). */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly id: string,
    private readonly listener: Client,
    private readonly client: Client,
    private readonly behaviour: Behaviour,
  ) {}

  private static async connect(db: TestDb, id: string | null, behaviour: Behaviour | undefined): Promise<FakeDaemon> {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    const listener = new Client({ connectionString: db.url });
    await listener.connect();
    const daemonId = id ?? (await client.query<{ id: string }>("select gen_random_uuid() as id")).rows[0]!.id;
    await listener.query(`listen "baton:daemon:${daemonId}"`);
    const daemon = new FakeDaemon(daemonId, listener, client, behaviour ?? (() => "completed"));
    listener.on("notification", (msg) => {
      const command = JSON.parse(msg.payload ?? "{}") as Command;
      daemon.commands.push(command);
      if (command.type === "spawn_task") daemon.onSpawn(command.task_id);
      if (command.type === "interrupt_task") daemon.running.delete(command.task_id);
    });
    return daemon;
  }

  /** Registers a new daemon row (listening first) and signals that it has room, as register_daemon does. */
  static async start(db: TestDb, opts: Options & { ownerId: string }): Promise<FakeDaemon> {
    const daemon = await FakeDaemon.connect(db, null, opts.behaviour);
    await daemon.query("insert into baton.daemons (id, owner_id, name, max_tasks) values ($1, $2, $3, $4)", [
      daemon.id,
      opts.ownerId,
      opts.name ?? "fake",
      opts.maxTasks ?? 1,
    ]);
    await daemon.query("select baton_private.enqueue_dispatch_pending($1)", [opts.ownerId]);
    return daemon;
  }

  /** Takes over a daemon registered with baton.register_daemon and spawns what was assigned to it meanwhile. */
  static async attach(db: TestDb, daemonId: string, opts: Pick<Options, "behaviour"> = {}): Promise<FakeDaemon> {
    const daemon = await FakeDaemon.connect(db, daemonId, opts.behaviour);
    const assigned = await daemon.query<{ id: string }>(
      "select id from baton.tasks where daemon_id = $1 and status = 'starting' order by assigned_at, id",
      [daemonId],
    );
    // A task assigned after LISTEN is both notified and found here: spawn it once, whichever comes first.
    for (const { id } of assigned.rows) {
      daemon.caughtUp.add(id);
      if (!daemon.seen.has(id)) daemon.onSpawn(id);
    }
    return daemon;
  }

  get activeTaskIds(): string[] {
    return [...this.running];
  }

  /** Synchronously marks the task as running here (a heartbeat right after the command reports it). */
  private onSpawn(taskId: string): void {
    if (this.seen.has(taskId)) {
      if (this.caughtUp.has(taskId)) return;
      // The server never sends spawn_task twice for one task (only a pending -> starting change does).
      this.errors.push(new Error(`task ${taskId} was spawned twice on daemon ${this.id}`));
      return;
    }
    this.seen.add(taskId);
    this.running.add(taskId);
    this.spawn(taskId).catch((err) => this.errors.push(err));
  }

  private async spawn(taskId: string): Promise<void> {
    const t = await this.query<SpawnedTask>(
      "select id, kind, step_id, directive_id, prompt, version, attempt, generation from baton.tasks where id = $1",
      [taskId],
    );
    const task = t.rows[0]!;
    this.spawned.push(task);
    await this.report(taskId, "running");
    const outcome = await this.behaviour(task, this);
    if (outcome === "hold") return;
    await this.finish(taskId, outcome);
  }

  async report(taskId: string, status: string, error?: string): Promise<void> {
    await this.query("select baton.report_task_status(task_id => $1, status => $2, error => $3, daemon_id => $4)", [
      taskId,
      status,
      error ?? null,
      this.id,
    ]);
  }

  async finish(taskId: string, outcome: "completed" | "failed"): Promise<void> {
    this.running.delete(taskId);
    await this.report(taskId, outcome, outcome === "failed" ? "the fake agent failed" : undefined);
  }

  /** Heartbeats with the tasks it runs, or with the ids given (to simulate a daemon that lost or kept tasks). */
  async heartbeat(activeTaskIds: string[] = this.activeTaskIds): Promise<void> {
    await this.query("select baton.heartbeat($1, $2)", [this.id, activeTaskIds]);
  }

  /** The commands received for one task, in order. */
  commandsFor(taskId: string): Command["type"][] {
    return this.commands.filter((c) => c.task_id === taskId).map((c) => c.type);
  }

  /** Runs SQL on the daemon's own connection (e.g. a planner adding steps). */
  query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
    const result = this.queue.then(() => this.client.query<R>(sql, params));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async stop(): Promise<void> {
    await this.listener.end().catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}
