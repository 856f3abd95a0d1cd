/*
 * Reads an agent's usage from its stdout, when the daemon is told the format (`--agent-output`).
 *
 * claude-json: Claude Code's final result object, from `claude -p --output-format json` (one JSON
 * object) or `--output-format stream-json` (one JSON object per line, the last of type "result"):
 * usage.input_tokens, usage.output_tokens and total_cost_usd. The last such object wins. Lines are
 * read as they arrive and only the current partial line is kept (at most MAX_LINE characters; a longer
 * line cannot be a result object worth reading and is skipped), so a chatty agent costs no memory.
 */
import { z } from "zod";

export const AGENT_OUTPUTS = ["text", "claude-json"] as const;
export type AgentOutput = (typeof AGENT_OUTPUTS)[number];

export type Usage = { inputTokens: number | null; outputTokens: number | null; costUsd: number | null };

const MAX_LINE = 4 * 1024 * 1024;

const Count = z.number().int().nonnegative().max(1e12);
const ClaudeResult = z.object({
  type: z.literal("result").optional(),
  total_cost_usd: z.number().nonnegative().max(1e6).optional(),
  usage: z.object({ input_tokens: Count.optional(), output_tokens: Count.optional() }).passthrough().optional(),
});

export class ClaudeJsonUsage {
  private partial = "";
  private skipping = false;
  private found: Usage | null = null;

  /** Feeds a chunk of the agent's stdout. */
  write(text: string): void {
    let rest = text;
    for (let nl = rest.indexOf("\n"); nl !== -1; nl = rest.indexOf("\n")) {
      this.line(this.partial + rest.slice(0, nl));
      this.partial = "";
      this.skipping = false;
      rest = rest.slice(nl + 1);
    }
    if (this.skipping) return;
    this.partial += rest;
    if (this.partial.length > MAX_LINE) {
      this.partial = "";
      this.skipping = true;
    }
  }

  /** The usage of the last result object, once stdout has ended (null: none was printed). */
  end(): Usage | null {
    if (!this.skipping && this.partial) this.line(this.partial);
    this.partial = "";
    return this.found;
  }

  private line(raw: string): void {
    const text = raw.trim();
    if (!text.startsWith("{") || this.skipping) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return;
    }
    const parsed = ClaudeResult.safeParse(value);
    if (!parsed.success) return;
    const r = parsed.data;
    // Only Claude Code's result object: it carries total_cost_usd (stream-json's other lines, e.g.
    // an assistant message's own usage, do not).
    if (r.total_cost_usd === undefined && r.type !== "result") return;
    this.found = {
      inputTokens: r.usage?.input_tokens ?? null,
      outputTokens: r.usage?.output_tokens ?? null,
      costUsd: r.total_cost_usd ?? null,
    };
  }
}

/** A reader for the format, or null for plain text (nothing to read). */
export function usageReader(format: AgentOutput | undefined): ClaudeJsonUsage | null {
  return format === "claude-json" ? new ClaudeJsonUsage() : null;
}
