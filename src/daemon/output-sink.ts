/*
 * Batches an agent's output and appends it to the task through the API: at most every flushMs, or
 * sooner when maxBytes are waiting. Output is best effort: a failed append is logged, never fatal.
 * Once the server says the task's output reached its cap (`truncated`), the rest is not sent.
 * NUL bytes are dropped: PostgreSQL text cannot hold them, and one would fail the whole batch.
 */
import { AppendTaskOutputDocument } from "../client/generated/graphql";
import type { GraphQLClient } from "../client/graphql";
import type { Logger } from "../logger";

type Chunk = { stream: "stdout" | "stderr"; text: string };

export class OutputSink {
  private pending: Chunk[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private truncated = false;

  constructor(
    private readonly api: GraphQLClient,
    private readonly taskId: string,
    private readonly logger: Logger,
    private readonly flushMs = 500,
    private readonly maxBytes = 64 * 1024,
  ) {}

  write(stream: Chunk["stream"], raw: string): void {
    if (this.truncated) return;
    const text = raw.includes("\0") ? raw.replace(/\0/g, "") : raw;
    if (!text) return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.stream === stream) last.text += text;
    else this.pending.push({ stream, text });
    this.bytes += Buffer.byteLength(text);
    if (this.bytes >= this.maxBytes) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.flushMs);
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const chunks = this.pending;
    this.pending = [];
    this.bytes = 0;
    if (chunks.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() =>
      this.api
        .request(AppendTaskOutputDocument, { t: this.taskId, c: chunks })
        .then(
          (r) => {
            if (r.appendTaskOutput?.result?.truncated) this.truncated = true;
          },
          (err: Error) => this.logger.warn("could not append task output", { task_id: this.taskId, error: err.message }),
        ),
    );
    return this.flushing;
  }
}
