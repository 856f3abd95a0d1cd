/*
 * A fake daemon for orchestrator tests: registers through the SQL functions, LISTENs on its channel
 * like a real daemon, and answers each spawn_task with the outcome the test chooses. It reports
 * through baton.report_task_status with its own daemon id, so fencing applies.
 */
import { Client } from "pg";
import type { TestDb } from "./db";

export type Command = { type: "spawn_task" | "interrupt_task"; task_id: string };
export type SpawnedTask = { id: string; kind: "planning" | "execution"; step_id: string | null; directive_id: string; prompt: string | null; version: number; attempt: number | null };
/** What to do with a spawned task: an outcome to report, or "hold" to keep it running. */
export type Outcome = "completed" | "failed" | "hold";
export type Behaviour = (task: SpawnedTask, daemon: FakeDaemon) => Promise<Outcome> | Outcome;

export class FakeDaemon {
  readonly commands: Command[] = [];
  readonly spawned: SpawnedTask[] = [];
  readonly errors: unknown[] = [];
  private running = new Set<string>();

  private constructor(
    readonly id: string,
    private readonly listener: Client,
    private readonly client: Client,
    private readonly behaviour: Behaviour,
  ) {}

  static async start(db: TestDb, opts: { ownerId: string; name?: string; maxTasks?: number; behaviour?: Behaviour }): Promise<FakeDaemon> {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    const listener = new Client({ connectionString: db.url });
    await listener.connect();
    // Listen before registering, so the first spawn is not missed: the id is chosen here.
    const id = (await client.query<{ id: string }>("select gen_random_uuid() as id")).rows[0]!.id;
    await listener.query(`listen "baton:daemon:${id}"`);
    const daemon = new FakeDaemon(id, listener, client, opts.behaviour ?? (() => "completed"));
    listener.on("notification", (msg) => {
      const command = JSON.parse(msg.payload ?? "{}") as Command;
      daemon.commands.push(command);
      if (command.type === "spawn_task") daemon.spawn(command.task_id).catch((err) => daemon.errors.push(err));
      if (command.type === "interrupt_task") daemon.running.delete(command.task_id);
    });
    await client.query(
      `with d as (insert into baton.daemons (id, owner_id, name, max_tasks) values ($1, $2, $3, $4) returning id) select id from d`,
      [id, opts.ownerId, opts.name ?? "fake", opts.maxTasks ?? 1],
    );
    await client.query("select baton_private.maybe_enqueue_dispatch_pending($1)", [opts.ownerId]);
    return daemon;
  }

  get activeTaskIds(): string[] {
    return [...this.running];
  }

  private async spawn(taskId: string): Promise<void> {
    const t = await this.client.query<SpawnedTask>("select id, kind, step_id, directive_id, prompt, version, attempt from baton.tasks where id = $1", [taskId]);
    const task = t.rows[0]!;
    this.spawned.push(task);
    this.running.add(taskId);
    await this.report(taskId, "running");
    const outcome = await this.behaviour(task, this);
    if (outcome === "hold") return;
    await this.finish(taskId, outcome);
  }

  async report(taskId: string, status: string, error?: string): Promise<void> {
    await this.client.query("select baton.report_task_status(task_id => $1, status => $2, error => $3, daemon_id => $4)", [taskId, status, error ?? null, this.id]);
  }

  async finish(taskId: string, outcome: "completed" | "failed"): Promise<void> {
    this.running.delete(taskId);
    await this.report(taskId, outcome, outcome === "failed" ? "the fake agent failed" : undefined);
  }

  async heartbeat(): Promise<void> {
    await this.client.query("select baton.heartbeat($1, $2)", [this.id, this.activeTaskIds]);
  }

  /** Runs SQL on the daemon's own connection (e.g. a planner adding steps). */
  query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
    return this.client.query<R>(sql, params);
  }

  async stop(): Promise<void> {
    await this.listener.end().catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}
