/*
 * `baton daemon run --agent claude|codex|aider` with the real daemon. A stub executable with the real
 * program's name is first on the daemon's PATH: it checks the flags it receives (exiting 64 and naming
 * a missing one), reads the prompt where the preset sends it, and prints the real program's output
 * format, so the preset's usage reader is tested against the documented shape: the task's usage
 * columns are recorded from Claude Code's stream-json result object and Codex's turn.completed events;
 * aider prints text, so nothing is.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { cli, cliJson, cliOk, startDaemon, startServer, useE2E, waitForE2E } from "../helpers/e2e";

const e2e = useE2E();

type Stub = { required: string[][]; prompt: "stdin" | "message-file"; output: string };

const STUBS: Record<string, Stub> = {
  // Claude Code's stream-json: init, an assistant message (its own usage is not the total), the result.
  claude: {
    required: [["-p"], ["--output-format", "stream-json"], ["--verbose"], ["--permission-mode", "acceptEdits"]],
    prompt: "stdin",
    output: [
      { type: "system", subtype: "init", session_id: "s1", tools: ["Bash", "Edit"] },
      { type: "assistant", message: { role: "assistant", content: [{ type: "text", text: "Done." }], usage: { input_tokens: 7, output_tokens: 7 } } },
      { type: "result", subtype: "success", is_error: false, duration_ms: 1200, num_turns: 2, result: "Done.", session_id: "s1", total_cost_usd: 0.0421, usage: { input_tokens: 1200, cache_read_input_tokens: 5000, output_tokens: 340 } },
    ].map((o) => JSON.stringify(o)).join("\n") + "\n",
  },
  // `codex exec --json`: JSONL events; turn.completed carries the turn's tokens (no cost).
  codex: {
    required: [["exec"], ["--json"], ["--sandbox", "workspace-write"], ["--skip-git-repo-check"], ["-"]],
    prompt: "stdin",
    output: [
      { type: "thread.started", thread_id: "019a-th" },
      { type: "turn.started" },
      { type: "item.completed", item: { id: "item_0", type: "agent_message", text: "Done." } },
      { type: "turn.completed", usage: { input_tokens: 46879, cached_input_tokens: 2432, output_tokens: 54 } },
    ].map((o) => JSON.stringify(o)).join("\n") + "\n",
  },
  // aider prints text only (its token report is for people).
  aider: {
    required: [["--message-file"], ["--yes-always"], ["--no-pretty"]],
    prompt: "message-file",
    output: "Aider v0.86.1\nMain model: sonnet with diff edit format\nTokens: 2.3k sent, 120 received. Cost: $0.01 message, $0.01 session.\n",
  },
};

/** Writes the stubs (claude, codex, aider) into one directory, to put first on the daemon's PATH. */
function writeStubs(): string {
  const dir = e2e.tempDir("stubs");
  for (const [name, stub] of Object.entries(STUBS)) {
    const script = `#!${process.execPath}
const fs = require("node:fs");
const name = ${JSON.stringify(name)}, stub = ${JSON.stringify(stub)};
const args = process.argv.slice(2);
for (const [flag, value] of stub.required) {
  const i = args.indexOf(flag);
  if (i === -1 || (value !== undefined && args[i + 1] !== value)) {
    process.stderr.write(name + " stub: missing flag " + [flag, value].filter(Boolean).join(" ") + " (got: " + args.join(" ") + ")\\n");
    process.exit(64);
  }
}
const prompt = stub.prompt === "stdin" ? fs.readFileSync(0, "utf8") : fs.readFileSync(args[args.indexOf("--message-file") + 1], "utf8");
if (!prompt.trim()) { process.stderr.write(name + " stub: no prompt\\n"); process.exit(65); }
if (process.env.E2E_STUB_LOG) fs.appendFileSync(process.env.E2E_STUB_LOG, JSON.stringify({ name, args, prompt }) + "\\n");
process.stdout.write(stub.output);
`;
    fs.writeFileSync(path.join(dir, name), script, { mode: 0o755 });
  }
  return dir;
}

describe("baton daemon run --agent", () => {
  it("refuses --agent with --agent-command, and an unknown preset, naming the known ones (exit 2)", async () => {
    const both = await cli(["daemon", "run", "--agent", "claude", "--agent-command", "claude -p"], { env: process.env });
    assert.equal(both.code, 2, both.stderr);
    assert.equal(both.stderr, "baton: --agent and --agent-command cannot be used together: --agent claude runs its own command line; pass one of them.\n");
    const unknown = await cli(["daemon", "run", "--agent", "gemini"], { env: process.env });
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.equal(unknown.stderr, 'baton: --agent: unknown agent "gemini"; use claude, codex or aider, or --agent-command CMD for any other agent.\n');
    const neither = await cli(["daemon", "run"], { env: process.env });
    assert.equal(neither.code, 2, neither.stderr);
    assert.equal(neither.stderr, "baton: No agent given: pass --agent claude|codex|aider or --agent-command CMD.\n");
  });

  it("the stubs refuse a command line without a preset's flag, naming it", () => {
    const dir = writeStubs();
    const r = spawnSync(path.join(dir, "claude"), ["-p", "--output-format", "stream-json"], { input: "hi", encoding: "utf8" });
    assert.equal(r.status, 64);
    assert.equal(r.stderr, "claude stub: missing flag --verbose (got: -p --output-format stream-json)\n");
    const codex = spawnSync(path.join(dir, "codex"), ["exec", "--json", "--sandbox", "read-only", "-"], { input: "hi", encoding: "utf8" });
    assert.equal(codex.status, 64);
    assert.match(codex.stderr, /^codex stub: missing flag --sandbox workspace-write /);
  });

  it("runs each preset's command line from PATH and records the usage its reader finds", async () => {
    const server = await startServer(e2e);
    const stubs = writeStubs();
    const log = path.join(e2e.tempDir("log"), "stubs.jsonl");
    const expected: Record<string, { input_tokens: number | null; output_tokens: number | null; cost_usd: string | null }> = {
      claude: { input_tokens: 1200, output_tokens: 340, cost_usd: "0.042100" },
      codex: { input_tokens: 46879, output_tokens: 54, cost_usd: null },
      aider: { input_tokens: null, output_tokens: null, cost_usd: null },
    };
    for (const name of Object.keys(STUBS)) {
      const daemon = await startDaemon(e2e, server, { maxTasks: 1, args: ["--agent", name], env: { PATH: `${stubs}${path.delimiter}${process.env.PATH}`, E2E_STUB_LOG: log } });
      const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", `Preset ${name}`, "--goal", `Run ${name}`], { env: server.env });
      await cliOk(["directive", "add-step", `step-for-${name}`, "--directive", d.rowId], { env: server.env });
      await cliOk(["directive", "start", "--directive", d.rowId], { env: server.env });
      const task = await waitForE2E(e2e, `the ${name} task to finish`, async () => {
        const r = await e2e.db.pool.query(
          "select status, error, input_tokens::int, output_tokens::int, cost_usd::text from baton.tasks where directive_id = $1 and status in ('completed', 'failed', 'interrupted') order by created_at limit 1",
          [d.rowId],
        );
        return r.rows[0];
      });
      assert.deepEqual(task, { status: "completed", error: null, ...expected[name] }, `${name}: ${JSON.stringify(task)}`);
      const runs = fs.readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { name: string; args: string[]; prompt: string });
      const run = runs.find((r) => r.name === name);
      assert.ok(run, `the ${name} stub ran`);
      assert.match(run.prompt, new RegExp(`step-for-${name}`), `${name} got the task's prompt`);
      await daemon.stop();
    }
    const runs = fs.readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { name: string; args: string[] });
    assert.deepEqual(runs.map((r) => [r.name, r.args.join(" ")]), [
      ["claude", "-p --output-format stream-json --verbose --permission-mode acceptEdits"],
      ["codex", "exec --json --sandbox workspace-write --skip-git-repo-check -"],
      ["aider", `--message-file ${runs[2]!.args[1]} --yes-always --no-pretty`],
    ]);
    assert.match(runs[2]!.args[1]!, /prompt/, "aider reads the daemon's prompt file");
  });
});
