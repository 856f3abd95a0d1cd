/*
 * Reads an agent's usage from its stdout, when the daemon is told the format (`--agent-output`).
 *
 * claude-json: Claude Code's final result object, from `claude -p --output-format json` (one JSON
 * object) or `--output-format stream-json` (one JSON object per line, the last of type "result"):
 * usage.input_tokens, usage.output_tokens and total_cost_usd. The last such object wins. Lines are
 * read as they arrive and only the current partial line is kept (at most MAX_LINE characters; a longer
 * line cannot be a result object worth reading and is skipped), so a chatty agent costs no memory.
 *
 * codex-json: Codex CLI's `codex exec --json` JSONL events; each `turn.completed` event carries that
 * turn's usage (input_tokens, cached_input_tokens, output_tokens), summed here. Codex prints no cost,
 * so cost stays null (a --budget-tokens budget counts it; --budget-usd does not).
 */
import { z } from "zod";

export const AGENT_OUTPUTS = ["text", "claude-json", "codex-json"] as const;
export type AgentOutput = (typeof AGENT_OUTPUTS)[number];

export type Usage = { inputTokens: number | null; outputTokens: number | null; costUsd: number | null };

const MAX_LINE = 4 * 1024 * 1024;

const Count = z.number().int().nonnegative().max(1e12);
const ClaudeResult = z.object({
  type: z.literal("result").optional(),
  total_cost_usd: z.number().nonnegative().max(1e6).optional(),
  usage: z.object({ input_tokens: Count.optional(), output_tokens: Count.optional() }).passthrough().optional(),
});

/** Reads JSON lines from an agent's stdout; a subclass takes each parsed object. */
export abstract class JsonLinesUsage {
  private partial = "";
  private skipping = false;
  protected found: Usage | null = null;

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
    this.take(value);
  }

  protected abstract take(value: unknown): void;
}

export class ClaudeJsonUsage extends JsonLinesUsage {
  protected take(value: unknown): void {
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

const CodexTurn = z.object({
  type: z.literal("turn.completed"),
  usage: z.object({ input_tokens: Count.optional(), output_tokens: Count.optional() }).passthrough(),
});

export class CodexJsonUsage extends JsonLinesUsage {
  protected take(value: unknown): void {
    const parsed = CodexTurn.safeParse(value);
    if (!parsed.success) return;
    const u = parsed.data.usage;
    // Each turn reports its own usage: a run of several turns costs their sum.
    const add = (a: number | null | undefined, b: number | undefined) => (b === undefined ? (a ?? null) : (a ?? 0) + b);
    this.found = { inputTokens: add(this.found?.inputTokens, u.input_tokens), outputTokens: add(this.found?.outputTokens, u.output_tokens), costUsd: null };
  }
}

/** A reader for the format, or null for plain text (nothing to read). */
export function usageReader(format: AgentOutput | undefined): JsonLinesUsage | null {
  if (format === "claude-json") return new ClaudeJsonUsage();
  if (format === "codex-json") return new CodexJsonUsage();
  return null;
}
