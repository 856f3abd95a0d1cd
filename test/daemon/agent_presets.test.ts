/*
 * `baton daemon run --agent NAME` (src/daemon/agent-presets.ts): each preset's command line and usage
 * reader, the refusals, and the codex-json reader against the JSONL `codex exec --json` prints.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AGENT_PRESETS, resolveAgent } from "../../src/daemon/agent-presets";
import { CodexJsonUsage, usageReader } from "../../src/daemon/usage-reader";

describe("resolveAgent", () => {
  it("expands each preset to its documented command line and usage reader", () => {
    assert.deepEqual(resolveAgent({ agent: "claude" }), { command: "claude -p --output-format stream-json --verbose --permission-mode acceptEdits", output: "claude-json", preset: "claude" });
    assert.deepEqual(resolveAgent({ agent: "codex" }), { command: "codex exec --json --sandbox workspace-write --skip-git-repo-check -", output: "codex-json", preset: "codex" });
    assert.deepEqual(resolveAgent({ agent: "aider" }), { command: 'aider --message-file "$BATON_PROMPT_FILE" --yes-always --no-pretty', output: "text", preset: "aider" });
    assert.deepEqual(Object.keys(AGENT_PRESETS), ["claude", "codex", "aider"]);
  });

  it("lets an explicit --agent-output override the preset's reader", () => {
    assert.equal(resolveAgent({ agent: "claude", agentOutput: "text" }).output, "text");
  });

  it("keeps --agent-command for anything else, reading text unless told", () => {
    assert.deepEqual(resolveAgent({ agentCommand: "node agent.js" }), { command: "node agent.js", output: "text" });
    assert.deepEqual(resolveAgent({ agentCommand: "x", agentOutput: "claude-json" }), { command: "x", output: "claude-json" });
  });

  it("refuses both, neither, and an unknown preset, naming the known ones", () => {
    assert.throws(() => resolveAgent({ agent: "claude", agentCommand: "claude -p" }), {
      message: "--agent and --agent-command cannot be used together: --agent claude runs its own command line; pass one of them.",
    });
    assert.throws(() => resolveAgent({}), { message: "No agent given: pass --agent claude|codex|aider or --agent-command CMD." });
    assert.throws(() => resolveAgent({ agent: "gemini" }), { message: '--agent: unknown agent "gemini"; use claude, codex or aider, or --agent-command CMD for any other agent.' });
    // Not an own property of the table: no prototype lookups.
    assert.throws(() => resolveAgent({ agent: "toString" }), /unknown agent "toString"/);
  });
});

describe("CodexJsonUsage", () => {
  // The events `codex exec --json` prints (developers.openai.com/codex/noninteractive).
  const EVENTS = [
    { type: "thread.started", thread_id: "019a-th" },
    { type: "turn.started" },
    { type: "item.completed", item: { id: "item_0", type: "agent_message", text: "Done." } },
    { type: "turn.completed", usage: { input_tokens: 46879, cached_input_tokens: 2432, output_tokens: 54 } },
  ];
  const read = (...chunks: string[]) => {
    const r = new CodexJsonUsage();
    for (const c of chunks) r.write(c);
    return r.end();
  };

  it("reads turn.completed's tokens, cut into chunks anywhere; codex prints no cost", () => {
    const text = EVENTS.map((e) => JSON.stringify(e)).join("\n") + "\n";
    assert.deepEqual(read(text.slice(0, 37), text.slice(37, 140), text.slice(140)), { inputTokens: 46879, outputTokens: 54, costUsd: null });
  });

  it("adds up several turns, and reads nothing from other output", () => {
    const turn = (i: number, o: number) => JSON.stringify({ type: "turn.completed", usage: { input_tokens: i, cached_input_tokens: 0, output_tokens: o } });
    assert.deepEqual(read(`${turn(10, 1)}\nnoise\n${turn(5, 2)}`), { inputTokens: 15, outputTokens: 3, costUsd: null });
    assert.equal(read('{"type":"turn.failed","error":{"message":"x"}}\nplain text\n{not json\n'), null);
    assert.equal(read(JSON.stringify({ type: "turn.completed", usage: { input_tokens: -1, output_tokens: 2 } })), null);
  });

  it("is the reader for codex-json; text reads nothing", () => {
    assert.ok(usageReader("codex-json") instanceof CodexJsonUsage);
    assert.equal(usageReader("text"), null);
  });
});
