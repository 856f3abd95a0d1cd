/*
 * --agent-output claude-json (src/daemon/usage-reader.ts): the usage of Claude Code's final result
 * object, from `--output-format json` (one object) or `stream-json` (one object per line, cut into
 * chunks anywhere), and nothing from other output.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClaudeJsonUsage } from "../../src/daemon/usage-reader";

// The shape Claude Code documents for its result object (fields beside the three read are ignored).
const RESULT = {
  type: "result", subtype: "success", is_error: false, duration_ms: 2100, num_turns: 3, result: "Done.", session_id: "abc",
  total_cost_usd: 0.0421,
  usage: { input_tokens: 1200, cache_creation_input_tokens: 10, cache_read_input_tokens: 5000, output_tokens: 340, server_tool_use: { web_search_requests: 0 } },
};

const read = (...chunks: string[]) => {
  const r = new ClaudeJsonUsage();
  for (const c of chunks) r.write(c);
  return r.end();
};

describe("ClaudeJsonUsage", () => {
  it("reads --output-format json: one object, without a final newline", () => {
    assert.deepEqual(read(JSON.stringify(RESULT)), { inputTokens: 1200, outputTokens: 340, costUsd: 0.0421 });
  });

  it("reads --output-format stream-json cut into chunks anywhere, ignoring the messages' own usage", () => {
    const lines = [
      { type: "system", subtype: "init", session_id: "abc", tools: ["Bash"] },
      { type: "assistant", message: { role: "assistant", usage: { input_tokens: 9, output_tokens: 9 } } },
      RESULT,
    ].map((o) => JSON.stringify(o) + "\n").join("");
    const chunks = [lines.slice(0, 7), lines.slice(7, 150), lines.slice(150, lines.length - 20), lines.slice(lines.length - 20)];
    assert.deepEqual(read("some text the agent printed\n", ...chunks), { inputTokens: 1200, outputTokens: 340, costUsd: 0.0421 });
  });

  it("finds nothing in plain text, broken JSON, other objects or negative figures; the last result wins", () => {
    assert.equal(read("Done.\n"), null);
    assert.equal(read('{"type": "result", "total_cost_usd": 0.1\n'), null);
    assert.equal(read('{"type": "assistant", "usage": {"input_tokens": 5}}\n'), null);
    assert.equal(read(JSON.stringify({ ...RESULT, total_cost_usd: -1 }) + "\n"), null);
    const second = { ...RESULT, total_cost_usd: 0.5, usage: { input_tokens: 1, output_tokens: 2 } };
    assert.deepEqual(read(JSON.stringify(RESULT) + "\n" + JSON.stringify(second) + "\n"), { inputTokens: 1, outputTokens: 2, costUsd: 0.5 });
  });

  it("skips a line longer than 4 MiB without keeping it, and reads the next", () => {
    const r = new ClaudeJsonUsage();
    const big = "x".repeat(1024 * 1024);
    for (let i = 0; i < 6; i++) r.write(big);
    r.write("\n" + JSON.stringify(RESULT) + "\n");
    assert.deepEqual(r.end(), { inputTokens: 1200, outputTokens: 340, costUsd: 0.0421 });
  });
});
