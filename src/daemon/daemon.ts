/*
 * The reference daemon, wired from parts with one job each:
 *   command-channel.ts  the websocket, the daemonCommands subscription and the re-sync after each (re)connection
 *   heartbeat.ts        a heartbeat every interval with the tasks it holds; each success renews the lease
 *   lease.ts            the lease and the fence in front of every side effect
 *   task-pool.ts        at most maxTasks tasks at once, each once per process; the rest wait for a slot
 *   task-runner.ts      one task: workspace (workspace.ts), agent (agent-process.ts), output, outcome
 *   report-queue.ts     status reports, retried until the server answers
 *   leftovers.ts        what a previous daemon left in the work dir, settled on start
 * The daemon's identity (daemon-identity.ts) and token renewal (token-renewal.ts) are settled by
 * `baton daemon run` before this starts.
 *
 * It survives server and database restarts: the websocket reconnects with backoff and resubscribes,
 * and each (re)subscription is followed by a re-sync that picks up tasks assigned while it was away.
 * A task is never run twice: it is started only from `starting`, once per process, and the `running`
 * report carries the version the daemon saw. A daemon that has not renewed its lease for the lease
 * period stops its agents, and their attempts publish nothing.
 */
import { DisconnectDaemonDocument, SetDaemonLabelsDocument } from "../client/generated/graphql";
import type { GraphQLClient } from "../client/graphql";
import type { Logger } from "../logger";
import type { AgentUser } from "./agent-user";
import type { AgentOutput } from "./usage-reader";
import { CommandChannel } from "./command-channel";
import { Heartbeat } from "./heartbeat";
import { Lease } from "./lease";
import { cleanUpLeftovers, TaskRecords } from "./leftovers";
import { ReportQueue } from "./report-queue";
import { TaskPool } from "./task-pool";
import { TaskRunner } from "./task-runner";
import { writeBatonShim } from "./work-dir";

export type DaemonOptions = {
  apiUrl: string;
  /** The daemon's id (daemon-identity.ts); the client below acts with its daemon token. */
  daemonId: string;
  /** The client for daemon requests (daemon-run passes one whose token is renewed). */
  client: GraphQLClient;
  agentCommand: string;
  maxTasks: number;
  workDir: string;
  name: string;
  heartbeatMs?: number;
  graceMs?: number;
  batonBin: string;
  logger: Logger;
  /** Extra variables of the daemon's environment that agents get (--agent-env); the rest is not passed. */
  agentEnv?: readonly string[];
  /** Run agents as this user (--agent-user). */
  agentUser?: AgentUser;
  /** The format of the agent's stdout to read its usage from (--agent-output); text: none. */
  agentOutput?: AgentOutput;
  /** What this daemon offers (--label), set on the server at every start: steps naming one as their agent come here. */
  labels?: readonly string[];
};

/** After a run fails before its agent started, how long until the re-sync looks for the task again. */
const RETRY_RESYNC_MS = 2000;

export class Daemon {
  private stopping = false;
  private readonly logger: Logger;
  private readonly lease = new Lease(() => this.leaseLost());
  private readonly pool: TaskPool;
  private readonly channel: CommandChannel;
  private readonly heartbeat: Heartbeat;

  constructor(private readonly opts: DaemonOptions) {
    this.logger = opts.logger.child({ component: "daemon" });
    const api = opts.client;
    const reports = new ReportQueue(api, (taskId) => !this.stopping && !this.pool.get(taskId)?.fenced, this.logger);
    const runner = new TaskRunner({
      api,
      apiUrl: opts.apiUrl,
      daemonId: opts.daemonId,
      lease: this.lease,
      reports,
      records: new TaskRecords(opts.workDir),
      agentCommand: opts.agentCommand,
      workDir: opts.workDir,
      graceMs: opts.graceMs ?? 10_000,
      agentEnv: opts.agentEnv,
      agentUser: opts.agentUser,
      agentOutput: opts.agentOutput,
      logger: this.logger,
    });
    this.pool = new TaskPool({
      maxTasks: opts.maxTasks,
      logger: this.logger,
      run: (taskId, task) => runner.run(taskId, task),
      retrySoon: () => setTimeout(() => void this.channel.resync(), RETRY_RESYNC_MS).unref(),
      slotFreed: () => void this.heartbeat.beat(),
    });
    this.channel = new CommandChannel(api, opts.daemonId, { spawn: (id) => this.pool.spawn(id), interrupt: (id, why) => this.pool.interrupt(id, why) }, this.logger);
    this.heartbeat = new Heartbeat({
      api,
      daemonId: opts.daemonId,
      lease: this.lease,
      intervalMs: opts.heartbeatMs ?? 10_000,
      activeTaskIds: () => this.pool.activeIds(),
      logger: this.logger,
    });
  }

  get id(): string {
    return this.opts.daemonId;
  }

  /** Settles the work dir's leftovers, then listens for commands and heartbeats. */
  async start(): Promise<void> {
    await cleanUpLeftovers(this.opts.workDir, this.logger, { graceMs: this.opts.graceMs ?? 10_000 });
    writeBatonShim(this.opts.workDir, this.opts.batonBin);
    // Labels first, replacing an earlier start's (a task assigned before the channel listens is caught up when it starts).
    await this.opts.client.request(SetDaemonLabelsDocument, { d: this.opts.daemonId, labels: [...(this.opts.labels ?? [])] });
    this.logger.info("daemon registered", { daemon_id: this.opts.daemonId, name: this.opts.name, max_tasks: this.opts.maxTasks, labels: this.opts.labels ?? [] });
    this.channel.start();
    await this.heartbeat.start();
  }

  /** No successful heartbeat for the lease period: the server may run these tasks elsewhere by now. */
  private leaseLost(): void {
    const tasks = this.pool.unfencedStarted();
    this.logger.warn("lease lost: stopping the agents; their attempts publish nothing", { lease_ms: this.lease.leaseMs, tasks });
    this.pool.fence(tasks, "the daemon lost its lease");
  }

  /** Stops taking tasks, interrupts the running ones, reports them, disconnects. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.heartbeat.stop();
    this.lease.stop();
    this.channel.quiet();
    await this.pool.close("the daemon is shutting down");
    await this.opts.client.request(DisconnectDaemonDocument, { d: this.opts.daemonId }).catch(() => undefined);
    await this.channel.close();
    this.logger.info("daemon stopped", { daemon_id: this.opts.daemonId });
  }
}
