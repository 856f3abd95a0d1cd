/*
 * The daemon's connection to the API for commands: the graphql-ws socket, the daemonCommands
 * subscription, and the re-sync that picks up tasks assigned while a notification was missed.
 *
 * graphql-ws reconnects with backoff and resubscribes by itself, so the subscription loop never sees
 * an outage: each (re)connection re-syncs, or a task assigned while the socket was down would wait
 * for its lease. When the stream itself ends (the server completed or refused it), it resubscribes.
 */
import { z } from "zod";
import { DaemonCommandsDocument, StartingTasksDocument } from "../client/generated/graphql";
import { subscribe, type GraphQLClient } from "../client/graphql";
import { rows } from "../client/results";
import type { Logger } from "../logger";

const Command = z.object({ type: z.enum(["spawn_task", "interrupt_task"]), taskId: z.string() });

/** Time for a (re)subscription to be established before the re-sync reads what it may have missed. */
const RESYNC_DELAY_MS = 300;

export type CommandHandlers = {
  spawn: (taskId: string) => void;
  interrupt: (taskId: string, reason: string) => void;
};

export class CommandChannel {
  private ws: ReturnType<GraphQLClient["websocket"]> | undefined;
  private stopped = false;

  constructor(
    private readonly api: GraphQLClient,
    private readonly daemonId: string,
    private readonly handlers: CommandHandlers,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.ws = this.api.websocket({
      onConnected: () => {
        this.logger.debug("websocket connected");
        setTimeout(() => void this.resync(), RESYNC_DELAY_MS);
      },
    });
    void this.listen();
  }

  /** Subscribes; after every (re)subscription, re-syncs; resubscribes when the stream ends. */
  private async listen(): Promise<void> {
    let backoff = 250;
    while (!this.stopped) {
      const sub = subscribe(this.ws!, DaemonCommandsDocument, { d: this.daemonId }, (data) => {
        backoff = 250;
        const cmd = Command.safeParse(data.daemonCommands);
        if (!cmd.success) return this.logger.warn("ignoring a malformed command", { command: data.daemonCommands });
        if (cmd.data.type === "spawn_task") this.handlers.spawn(cmd.data.taskId);
        else this.handlers.interrupt(cmd.data.taskId, "the server asked to stop it");
      });
      setTimeout(() => void this.resync(), RESYNC_DELAY_MS);
      await sub.done.catch((err: Error) => this.logger.warn("command subscription ended", { error: err.message }));
      if (this.stopped) break;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  /** Spawns the tasks assigned to this daemon and still `starting` (missed notifications). */
  async resync(): Promise<void> {
    if (this.stopped) return;
    try {
      const data = await this.api.request(StartingTasksDocument, { d: this.daemonId });
      for (const t of rows(data.tasks?.nodes)) this.handlers.spawn(t.rowId);
    } catch (err) {
      this.logger.warn("re-sync failed", { error: (err as Error).message });
    }
  }

  /** No more re-syncs or resubscriptions; the socket stays open until close(). */
  quiet(): void {
    this.stopped = true;
  }

  async close(): Promise<void> {
    this.stopped = true;
    await Promise.resolve(this.ws?.dispose()).catch(() => undefined); // a socket still connecting rejects its dispose
  }
}
