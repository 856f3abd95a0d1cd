/*
 * The reference daemon: registers, listens for commands on the daemonCommands subscription, runs up to
 * maxTasks agent processes in workspaces, reports every status change, streams output, and heartbeats
 * every 10 s with the tasks it runs.
 *
 * It survives server and database restarts: the websocket reconnects with backoff and resubscribes,
 * and each (re)subscription is followed by a re-sync that picks up tasks assigned while it was away.
 * A task is never run twice: it is started only from `starting`, once per process (a notification
 * plus a re-sync spawn it once: `seen`), and the `running` report carries the version the daemon saw.
 *
 * Side effects are fenced (lease.ts): a daemon that has not renewed its lease for the lease period
 * stops its agents, and their attempts publish nothing. On start it settles what a previous daemon
 * left in the work dir (leftovers.ts): agents still running, stale worktrees.
 */
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { z } from "zod";
import { GraphQLClient, GraphQLRequestError, subscribe } from "../client/graphql";
import type { Logger } from "../logger";
import { AgentProcess } from "./agent-process";
import type { AgentUser } from "./agent-user";
import { OutputSink } from "./output-sink";
import { assertMayPublish, FencedError, Lease } from "./lease";
import { cleanUpLeftovers, TaskRecords } from "./leftovers";
import { prepareWorkspace, WorkspaceError, type WorkspaceInfo } from "./workspace";

export type DaemonOptions = {
  apiUrl: string;
  token: string;
  agentCommand: string;
  maxTasks: number;
  workDir: string;
  name: string;
  heartbeatMs?: number;
  graceMs?: number;
  batonBin: string;
  logger: Logger;
  /** The client for daemon requests (daemon-run passes one whose token is renewed); default: one on the daemon token. */
  client?: GraphQLClient;
  /** Extra variables of the daemon's environment that agents get (--agent-env); the rest is not passed. */
  agentEnv?: readonly string[];
  /** Run agents as this user (--agent-user). */
  agentUser?: AgentUser;
};

const Command = z.object({ type: z.enum(["spawn_task", "interrupt_task"]), taskId: z.string() });

const TaskSchema = z.object({
  rowId: z.string(),
  kind: z.enum(["planning", "execution"]),
  status: z.string(),
  version: z.number(),
  prompt: z.string().nullable(),
  directiveId: z.string(),
  stepId: z.string().nullable(),
  daemonId: z.string().nullable(),
  agentToken: z.string().nullable(),
  workspace: z
    .object({
      repo: z.string().nullable(),
      base_branch: z.string(),
      directive_title: z.string(),
      step_name: z.string().nullable(),
      dependencies: z.array(z.object({ step_id: z.string(), name: z.string(), status: z.string(), branch: z.string().nullable(), commit_sha: z.string().nullable() })),
    })
    .nullable(),
});
type Task = z.infer<typeof TaskSchema>;
/** How long a report that cannot reach the server is retried (well past any lease: after that it is moot). */
const REPORT_RETRY_MS = 5 * 60_000;

const TASK_QUERY = `query($id: UUID!) { task(rowId: $id) { rowId kind status version prompt directiveId stepId daemonId agentToken workspace } }`;

/** `fenced`: the lease ran out while the task ran; the attempt publishes nothing. */
type Running = { agent?: AgentProcess; interrupted?: string; started?: boolean; fenced?: boolean };

export class Daemon {
  private daemonId = "";
  private api!: GraphQLClient;
  private readonly running = new Map<string, Running>();
  private readonly seen = new Set<string>();
  private stopping = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private ws: ReturnType<GraphQLClient["websocket"]> | undefined;
  private idle: Promise<void> = Promise.resolve();
  private readonly logger: Logger;
  private readonly lease = new Lease(() => this.leaseLost());
  private readonly records: TaskRecords;

  constructor(private readonly opts: DaemonOptions) {
    this.logger = opts.logger.child({ component: "daemon" });
    this.records = new TaskRecords(opts.workDir);
  }

  get id(): string {
    return this.daemonId;
  }

  /** Registers (or, given a daemon token, adopts its daemon) and starts listening. */
  async start(): Promise<void> {
    await cleanUpLeftovers(this.opts.workDir, this.logger, { graceMs: this.opts.graceMs ?? 10_000 });
    const user = new GraphQLClient(this.opts.apiUrl, this.opts.token);
    // A daemon started before its server (docker compose, a reboot) waits for it instead of exiting.
    let me: { currentIdentity: { role: string; daemon_id?: string } };
    for (let wait = 500; ; wait = Math.min(wait * 2, 10_000)) {
      try {
        me = await user.request<{ currentIdentity: { role: string; daemon_id?: string } }>("{ currentIdentity }");
        break;
      } catch (err) {
        if (!(err instanceof GraphQLRequestError) || err.kind !== "network" || this.stopping) throw err;
        this.logger.warn("waiting for the Baton API", { api: this.opts.apiUrl, error: err.message, retry_ms: wait });
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    let daemonToken = this.opts.token;
    if (me.currentIdentity.role === "baton_daemon" && me.currentIdentity.daemon_id) {
      this.daemonId = me.currentIdentity.daemon_id;
    } else if (me.currentIdentity.role === "baton_user") {
      const reg = await user.request<{ registerDaemon: { result: { rowId: string } } }>(
        `mutation($name: String!, $host: String, $max: Int) { registerDaemon(input: { name: $name, hostname: $host, maxTasks: $max }) { result { rowId } } }`,
        { name: this.opts.name, host: os.hostname(), max: this.opts.maxTasks },
      );
      this.daemonId = reg.registerDaemon.result.rowId;
      daemonToken = (await user.request<{ daemonToken: string }>(`query($d: UUID!) { daemonToken(daemonId: $d) }`, { d: this.daemonId })).daemonToken;
    } else {
      throw new Error(`A daemon needs a user token (to register) or a daemon token; this token's role is ${me.currentIdentity.role}.`);
    }
    this.api = this.opts.client ?? new GraphQLClient(this.opts.apiUrl, daemonToken);
    this.writeShim();
    this.logger.info("daemon registered", { daemon_id: this.daemonId, name: this.opts.name, max_tasks: this.opts.maxTasks });
    // graphql-ws resubscribes by itself after a reconnect, so `listen` never sees the outage: each
    // (re)connection re-syncs here, or a task assigned while the socket was down would wait for its lease.
    this.ws = this.api.websocket({
      onConnected: () => {
        this.logger.debug("websocket connected");
        setTimeout(() => void this.resync(), 300);
      },
    });
    void this.listen();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.opts.heartbeatMs ?? 10_000);
    await this.heartbeat();
  }

  /** Subscribes; after every (re)subscription, re-syncs; resubscribes when the stream ends. */
  private async listen(): Promise<void> {
    let backoff = 250;
    while (!this.stopping) {
      const sub = subscribe<{ daemonCommands: unknown }>(
        this.ws!,
        `subscription($d: UUID!) { daemonCommands(daemonId: $d) { type taskId } }`,
        { d: this.daemonId },
        (data) => {
          backoff = 250;
          const cmd = Command.safeParse(data.daemonCommands);
          if (!cmd.success) return this.logger.warn("ignoring a malformed command", { command: data.daemonCommands });
          if (cmd.data.type === "spawn_task") this.spawn(cmd.data.taskId);
          else this.interrupt(cmd.data.taskId, "the server asked to stop it");
        },
      );
      // Give the subscription a moment to be established, then pick up what was assigned meanwhile.
      setTimeout(() => void this.resync(), 300);
      await sub.done.catch((err: Error) => this.logger.warn("command subscription ended", { error: err.message }));
      if (this.stopping) break;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  /** Tasks assigned to this daemon that it is not running yet (missed notifications). */
  private async resync(): Promise<void> {
    if (this.stopping) return;
    try {
      const data = await this.api.request<{ tasks: { nodes: { rowId: string }[] } }>(
        `query($d: UUID!) { tasks(condition: { daemonId: $d, status: "starting" }) { nodes { rowId } } }`,
        { d: this.daemonId },
      );
      for (const t of data.tasks.nodes) this.spawn(t.rowId);
    } catch (err) {
      this.logger.warn("re-sync failed", { error: (err as Error).message });
    }
  }

  /*
   * One heartbeat at a time, never behind a report: a slow report must not delay the lease renewal.
   * A heartbeat asked for while one is in flight goes right after it (it lists the tasks when it is
   * sent). A `running` report may overtake a heartbeat composed before its task was spawned; the
   * server spares a task that became running after the previous heartbeat (sql/000022_fencing.sql),
   * which is sound because heartbeats do not overlap.
   */
  private heartbeatInFlight = false;
  private heartbeatAgain = false;

  private async heartbeat(): Promise<void> {
    if (this.stopping) return;
    if (this.heartbeatInFlight) {
      this.heartbeatAgain = true;
      return;
    }
    this.heartbeatInFlight = true;
    const sentAt = this.lease.now();
    try {
      const r = await this.api.request<{ heartbeat: { result: unknown } }>(
        `mutation($d: UUID!, $ids: [UUID]) { heartbeat(input: { daemonId: $d, activeTaskIds: $ids }) { result { lastHeartbeatAt leaseExpiresAt } } }`,
        { d: this.daemonId, ids: [...this.running].filter(([, e]) => !e.fenced).map(([id]) => id) },
        { timeoutMs: Math.min(10_000, Math.max(2_000, 2 * (this.opts.heartbeatMs ?? 10_000))) },
      );
      this.lease.renewed(sentAt, r.heartbeat.result);
    } catch (err) {
      this.logger.warn("heartbeat failed", { error: (err as Error).message });
    } finally {
      this.heartbeatInFlight = false;
    }
    if (this.heartbeatAgain) {
      this.heartbeatAgain = false;
      void this.heartbeat();
    }
  }

  /** No successful heartbeat for the lease period: the server may run these tasks elsewhere by now. */
  private leaseLost(): void {
    const tasks = [...this.running].filter(([, e]) => e.started && !e.fenced);
    this.logger.warn("lease lost: stopping the agents; their attempts publish nothing", { lease_ms: this.lease.leaseMs, tasks: tasks.map(([id]) => id) });
    for (const [id, entry] of tasks) {
      entry.fenced = true;
      this.interrupt(id, "the daemon lost its lease");
    }
  }

  /*
   * A task beyond maxTasks waits here for a slot instead of being dropped. The server counts a slot
   * free as soon as a task's final report commits, while this process still holds the finished task
   * until its worktree is removed; the next task is often assigned in that gap. Dropped, it stayed
   * `starting` until the lease ran out and was then retried as lost.
   */
  private readonly deferred = new Set<string>();

  private spawn(taskId: string): void {
    if (this.stopping || this.running.has(taskId) || this.seen.has(taskId)) return;
    if (this.running.size >= this.opts.maxTasks) {
      this.logger.debug("task deferred until a slot is free", { task_id: taskId });
      this.deferred.add(taskId);
      return;
    }
    this.deferred.delete(taskId);
    this.seen.add(taskId);
    const entry: Running = {};
    this.running.set(taskId, entry);
    const run = this.runTask(taskId, entry)
      .catch((err: Error) => {
        this.logger.error("task run failed", { task_id: taskId, error: err.message });
        // Failed before the agent started (the API or its database was away): forget the task, so
        // the next re-sync finds it still `starting` and runs it, instead of waiting for the lease.
        if (!entry.started) {
          this.seen.delete(taskId);
          setTimeout(() => void this.resync(), 2000).unref();
        }
      })
      .finally(() => {
        this.running.delete(taskId);
        for (const id of [...this.deferred]) this.spawn(id);
        void this.heartbeat(); // a slot is free: tell the server now rather than in 10 s
      });
    this.idle = Promise.all([this.idle, run]).then(() => undefined);
  }

  private interrupt(taskId: string, reason: string): void {
    const entry = this.running.get(taskId);
    if (!entry) return;
    entry.interrupted = reason;
    entry.agent?.interrupt(reason);
  }

  /*
   * A report the server never received (it is restarting, the network dropped) is sent again with
   * backoff. Dropped, the finished task left `running` here, so the next heartbeat had the server
   * count it lost and run it again. The task stays in `running` while its report is retried, so
   * heartbeats keep claiming it. A refusal (BTSTL, BTSTS, ...) is final, and so is a failure while
   * stopping.
   */
  private async report(
    taskId: string,
    status: string,
    extra: { expectedVersion?: number; error?: string; branch?: string | null; commit?: string | null; onRefused?: () => Promise<void> } = {},
  ): Promise<boolean> {
    const deadline = Date.now() + REPORT_RETRY_MS;
    for (let backoff = 250; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        await this.api.request(
          `mutation($t: UUID!, $s: String!, $v: Int, $e: String, $b: String, $c: String) {
            reportTaskStatus(input: { taskId: $t, status: $s, expectedVersion: $v, error: $e, branch: $b, commitSha: $c }) { clientMutationId } }`,
          { t: taskId, s: status, v: extra.expectedVersion ?? null, e: extra.error ?? null, b: extra.branch ?? null, c: extra.commit ?? null },
        );
        return true;
      } catch (err) {
        const e = err as GraphQLRequestError;
        // INTERNAL is what the API says while its database is unreachable (a restart): worth retrying too.
        const retryable = e.kind === "network" || e.code === "INTERNAL";
        // A task whose attempt was fenced (the lease ran out) is the server's to settle: stop retrying.
        if (retryable && !this.stopping && !this.running.get(taskId)?.fenced && Date.now() + backoff < deadline) {
          this.logger.warn("report failed; retrying", { task_id: taskId, status, error: e.message, retry_in_ms: backoff });
          await new Promise((r) => setTimeout(r, backoff));
          continue;
        }
        this.logger.warn("report rejected", { task_id: taskId, status, error: e.message, code: e.code });
        // The server refused this attempt for good (interrupted meanwhile, or no longer ours).
        if (e.code === "BTSTL" || e.code === "BTDNY") await extra.onRefused?.();
        return false;
      }
    }
  }

  private async runTask(taskId: string, entry: Running): Promise<void> {
    const log = this.logger.child({ task_id: taskId });
    const data = await this.api.request<{ task: unknown }>(TASK_QUERY, { id: taskId });
    const parsed = TaskSchema.safeParse(data.task);
    if (!parsed.success) return log.warn("task not readable; skipped", { issue: parsed.error.issues[0]?.message });
    const task: Task = parsed.data;
    if (task.status !== "starting") return; // already running elsewhere in this process, or over
    // The version fence: of two spawns of one task, only one moves it from `starting`.
    if (!(await this.report(taskId, "running", { expectedVersion: task.version }))) return;
    entry.started = true;
    this.records.begin(taskId);
    log.info("task started", { kind: task.kind, step_id: task.stepId, directive_id: task.directiveId });
    const sink = new OutputSink(this.api, taskId, log);
    let workspace;
    try {
      workspace = await prepareWorkspace(this.opts.workDir, { id: task.rowId, kind: task.kind, directiveId: task.directiveId, stepId: task.stepId }, task.workspace as WorkspaceInfo);
    } catch (err) {
      const message = err instanceof WorkspaceError ? err.message : `Could not prepare the workspace: ${(err as Error).message}`;
      this.records.end(taskId);
      await this.report(taskId, entry.interrupted ? "interrupted" : "failed", { error: message });
      return;
    }
    try {
      if (entry.interrupted) {
        await this.report(taskId, "interrupted", { error: `Interrupted before the agent started (${entry.interrupted}).` });
        return;
      }
      const agent = new AgentProcess({
        command: this.opts.agentCommand,
        cwd: workspace.dir,
        prompt: task.prompt ?? "",
        promptDir: path.join(this.opts.workDir, "prompts", taskId),
        graceMs: this.opts.graceMs ?? 10_000,
        passEnv: this.opts.agentEnv,
        user: this.opts.agentUser,
        env: {
          BATON_API_URL: this.opts.apiUrl,
          BATON_TOKEN: task.agentToken ?? "",
          BATON_TASK_ID: task.rowId,
          BATON_DIRECTIVE_ID: task.directiveId,
          BATON_TASK_KIND: task.kind,
          ...(task.stepId ? { BATON_STEP_ID: task.stepId } : {}),
          PATH: `${path.join(this.opts.workDir, "bin")}${path.delimiter}${process.env.PATH ?? ""}`,
        },
        onOutput: (stream, text) => sink.write(stream, text),
      });
      entry.agent = agent;
      this.records.agent(taskId, agent.pid);
      if (entry.interrupted) agent.interrupt(entry.interrupted);
      const result = await agent.result;
      // Before the output flush: its append may be stuck in the partition that cost the lease.
      if (entry.fenced) return log.warn("the lease ran out during this attempt: nothing published, nothing reported", { outcome: result.outcome });
      await sink.flush();
      if (result.outcome === "completed") {
        let finished: { branch: string | null; commit: string | null };
        try {
          finished = await workspace.finish(task.kind === "planning" ? "Baton planning" : `${task.workspace?.step_name ?? "Baton step"}\n\nBaton task ${task.rowId}`, () =>
            assertMayPublish(this.api, this.daemonId, this.lease, taskId),
          );
        } catch (err) {
          if (err instanceof FencedError) return log.warn("not published: this attempt may no longer publish", { reason: err.message });
          log.warn("the agent's work could not be saved", { error: (err as Error).message });
          await this.report(taskId, "failed", { error: `The agent succeeded but its work could not be saved: ${(err as Error).message}` });
          return;
        }
        // Refused (the task was interrupted meanwhile): the attempt's own branch goes again.
        const reported = await this.report(taskId, "completed", { branch: finished.branch, commit: finished.commit, onRefused: () => workspace.unpublish() });
        log.info("task completed", { branch: finished.branch, commit: finished.commit, reported });
      } else {
        const reported = await this.report(taskId, result.outcome, { error: result.errorTail, branch: workspace.branch });
        log.info(`task ${result.outcome}`, { exit_code: result.exitCode, signal: result.signal, reported });
      }
    } finally {
      await workspace.dispose().catch(() => undefined);
      fs.rmSync(path.join(this.opts.workDir, "prompts", taskId), { recursive: true, force: true });
      this.records.end(taskId);
    }
  }

  /** `baton` on the agent's PATH runs this installation's CLI. */
  private writeShim(): void {
    const bin = path.join(this.opts.workDir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    const shim = path.join(bin, "baton");
    fs.writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${this.opts.batonBin}" "$@"\n`, { mode: 0o755 });
  }

  /** Stops taking tasks, interrupts the running ones, reports them, disconnects. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.heartbeatTimer);
    this.lease.stop();
    for (const id of this.running.keys()) this.interrupt(id, "the daemon is shutting down");
    await this.idle;
    await this.api?.request(`mutation($d: UUID!) { disconnectDaemon(input: { daemonId: $d }) { clientMutationId } }`, { d: this.daemonId }).catch(() => undefined);
    await Promise.resolve(this.ws?.dispose()).catch(() => undefined); // a socket still connecting rejects its dispose
    this.logger.info("daemon stopped", { daemon_id: this.daemonId });
  }
}
