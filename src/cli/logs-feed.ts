/*
 * Reading task output for `baton task logs` and `baton directive logs`: the stored chunks first, then
 * the directive's event feed (directiveEvents over graphql-ws), whose `output` events carry the chunks
 * each batch stored. Each task's chunks are numbered 1, 2, 3, ... (seq, in one locked transaction per
 * batch), so a task's output is printed exactly once and in order: a chunk at or below the last seq
 * printed is a repeat, and a batch that starts past the next seq means one was missed (the subscription
 * was not listening yet, or the server restarted), so the store is read again from there.
 */
import type { Client as WsClient } from "graphql-ws/client";
import { LogFeedDocument, TaskLogsDocument, type LogChunkFragment, type LogFeedSubscription, type LogTaskFragment } from "../client/generated/graphql";
import { GraphQLRequestError, subscribe, type GraphQLClient } from "../client/graphql";
import { rows } from "../client/results";

export type LogChunk = LogChunkFragment;
export type LogTask = LogTaskFragment;
export type FeedEvent = LogFeedSubscription extends { directiveEvents: { events: (infer E)[] } | null } ? E : never;

export type TaskLog = { info: LogTask; label: string; lastSeq: number };

/** A chunk as --json prints it: self-describing, one per line with --follow. */
export function chunkJson(t: TaskLog, c: LogChunk, withLabel: boolean) {
  return {
    taskId: t.info.rowId,
    kind: t.info.kind,
    step: t.info.step?.name ?? null,
    attempt: t.info.attempt,
    ...(withLabel ? { label: t.label } : {}),
    seq: c.seq,
    stream: c.stream,
    text: c.text,
    createdAt: c.createdAt,
  };
}

export class LogReader {
  readonly tasks = new Map<string, TaskLog>();

  constructor(
    private readonly client: GraphQLClient,
    private readonly labelFor: (info: LogTask) => string,
    private readonly emit: (t: TaskLog, c: LogChunk) => void,
  ) {}

  /** Learns a task without reading its output (its chunks are read from seq 1 on the first catchUp). */
  know(info: LogTask): TaskLog {
    let t = this.tasks.get(info.rowId);
    if (!t) this.tasks.set(info.rowId, (t = { info, label: this.labelFor(info), lastSeq: 0 }));
    return t;
  }

  /** Prints the task's stored chunks after the last one printed, and refreshes its status; undefined when the task is not visible. */
  async catchUp(taskId: string): Promise<TaskLog | undefined> {
    const { task } = await this.client.request(TaskLogsDocument, { t: taskId, after: this.tasks.get(taskId)?.lastSeq ?? 0 });
    if (!task) return undefined;
    const { outputChunks, ...info } = task;
    const t = this.know(info);
    t.info = info;
    this.take(t, rows(outputChunks.nodes));
    return t;
  }

  /** The chunks of an `output` event: printed when they follow on, else the store is read (a missed batch, or a task not seen yet). */
  async fromEvent(taskId: string, chunks: readonly (LogChunk | null)[] | null): Promise<void> {
    const t = this.tasks.get(taskId);
    const sorted = rows(chunks ?? []).sort((a, b) => a.seq - b.seq);
    if (!t || (sorted.length > 0 && sorted[0]!.seq > t.lastSeq + 1)) {
      await this.catchUp(taskId);
      return;
    }
    this.take(t, sorted);
  }

  private take(t: TaskLog, chunks: LogChunk[]): void {
    for (const c of chunks) {
      if (c.seq <= t.lastSeq) continue;
      t.lastSeq = c.seq;
      this.emit(t, c);
    }
  }
}

/** Splits chunks into lines, each printed with its task's label; a line's end may arrive in a later chunk. */
export class LinePrinter {
  // Per task and stream: the text after the last newline, not printed yet.
  private readonly partial = new Map<string, { t: TaskLog; rest: string }>();

  constructor(private readonly write: (line: string) => void) {}

  chunk(t: TaskLog, c: LogChunk): void {
    const key = `${t.info.rowId} ${c.stream}`;
    const lines = ((this.partial.get(key)?.rest ?? "") + c.text).split("\n");
    this.partial.set(key, { t, rest: lines.pop()! });
    for (const line of lines) this.write(`${t.label} | ${line.replace(/\r$/, "")}`);
  }

  /** Prints the unfinished last lines of one task, or of every task. */
  flush(only?: TaskLog): void {
    for (const [key, { t, rest }] of this.partial) {
      if (only && t !== only) continue;
      if (rest) this.write(`${t.label} | ${rest.replace(/\r$/, "")}`);
      this.partial.delete(key);
    }
  }
}

const RESUBSCRIBE_MS = 1000;
// graphql-ws does not acknowledge a subscription: the server may start listening a moment after the
// catch-up read. One more read once it surely listens closes that gap (a status change in it would
// otherwise be missed for good); it is not a polling loop.
const SETTLE_MS = 2000;

/**
 * Follows a directive's event feed until `onEvents` or `catchUp` returns true. Each subscription is
 * followed by a catch-up read (what was stored before it listened); a dropped subscription (a server
 * restart) is resubscribed. Everything runs one step at a time, in order.
 */
export async function followFeed(
  client: GraphQLClient,
  directiveId: string,
  handlers: { onEvents(events: FeedEvent[]): Promise<boolean>; catchUp(): Promise<boolean> },
): Promise<void> {
  const ws: WsClient = client.websocket();
  let finished = false;
  let settle: NodeJS.Timeout | undefined;
  let current: { cancel(): void } | undefined;
  let resolveEnd: () => void = () => undefined;
  let rejectEnd: (err: unknown) => void = () => undefined;
  const end = new Promise<void>((resolve, reject) => ((resolveEnd = resolve), (rejectEnd = reject)));
  let chain: Promise<void> = Promise.resolve();
  const serial = (step: () => Promise<boolean>) => {
    chain = chain.then(async () => {
      if (finished) return;
      try {
        if (await step()) {
          finished = true;
          resolveEnd();
        }
      } catch (err) {
        finished = true;
        rejectEnd(err);
      }
    });
  };
  void (async () => {
    while (!finished) {
      const sub = subscribe(ws, LogFeedDocument, { d: directiveId }, (data) => serial(() => handlers.onEvents(data.directiveEvents?.events ?? [])));
      current = sub;
      serial(() => handlers.catchUp());
      clearTimeout(settle);
      settle = setTimeout(() => serial(() => handlers.catchUp()), SETTLE_MS);
      const failure = await sub.done.then(
        () => undefined,
        (err: unknown) => err,
      );
      if (finished) return;
      // The server refused the subscription itself (e.g. the directive is not visible): no retry helps.
      if (failure instanceof GraphQLRequestError && failure.kind === "graphql") {
        finished = true;
        rejectEnd(failure);
        return;
      }
      await new Promise((r) => setTimeout(r, RESUBSCRIBE_MS));
    }
  })();
  try {
    await end;
  } finally {
    clearTimeout(settle);
    current?.cancel();
    await ws.dispose();
  }
}
