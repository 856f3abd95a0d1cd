/*
 * The logger (src/logger.ts, pino underneath): JSON lines on a piped stderr, readable lines when asked
 * (a terminal), errors with their stacks, tokens redacted, levels filtered. The JSON cases run a real
 * child process whose stderr is a pipe, as a server's is under a supervisor.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { createLogger } from "../src/logger";

const ROOT = path.join(__dirname, "..");
const JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkYWVtb24ifQ.c2lnbmF0dXJlLWJ5dGVz";

/** Runs `body` (TypeScript, with `createLogger` in scope) in a child process; returns its stderr lines. */
function stderrOf(body: string, env: Record<string, string> = {}): string[] {
  const script = `const { createLogger } = require(${JSON.stringify(path.join(ROOT, "src", "logger"))});\n${body}`;
  const r = spawnSync(process.execPath, ["--require", path.join(ROOT, "test", "helpers", "register.js"), "-e", script], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr.split("\n").filter((l) => l !== "");
}

describe("the logger", () => {
  it("writes one JSON object per line on a piped stderr: level, time, message, then the child's and the call's fields", () => {
    const lines = stderrOf(`createLogger("info").child({ daemon_id: "d1" }).info("task completed", { task_id: "t1", attempts: 2 });`);
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.level, "info");
    assert.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(Object.keys(entry).slice(3), ["msg", "daemon_id", "task_id", "attempts"]);
    assert.deepEqual([entry.msg, entry.daemon_id, entry.task_id, entry.attempts], ["task completed", "d1", "t1", 2]);
    // The fault and e2e tests find messages by their text, then fields after them.
    assert.match(lines[0]!, /"msg":"task completed","daemon_id":"d1","task_id":"t1"/);
  });

  it("keeps an error's type, message, stack and code", () => {
    const lines = stderrOf(`
      function failingHere() { const e = new TypeError("disk full"); e.code = "ENOSPC"; return e; }
      createLogger("info").error("could not write the report", { error: failingHere() });`);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.level, "error");
    assert.equal(entry.error.type, "TypeError");
    assert.equal(entry.error.message, "disk full");
    assert.equal(entry.error.code, "ENOSPC");
    assert.match(entry.error.stack, /^TypeError: disk full\n\s+at failingHere /);
  });

  it("redacts tokens: token fields at the top and one level down, authorization headers, BATON_TOKEN, agentToken, and JWTs inside any string", () => {
    const lines = stderrOf(`
      createLogger("info").child({ token: "secret-1" }).warn("refused ${JWT} for daemon", {
        agentToken: "secret-2",
        env: { BATON_TOKEN: "secret-3", HOME: "/home/agent" },
        headers: { authorization: "Bearer secret-4" },
        request: { token: "secret-5" },
        detail: "the header was Bearer ${JWT}",
      });`);
    assert.doesNotMatch(lines.join("\n"), /secret-\d|eyJ/);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.msg, "refused [Redacted] for daemon");
    assert.equal(entry.token, "[Redacted]");
    assert.equal(entry.agentToken, "[Redacted]");
    assert.deepEqual(entry.env, { BATON_TOKEN: "[Redacted]", HOME: "/home/agent" });
    assert.equal(entry.headers.authorization, "[Redacted]");
    assert.equal(entry.request.token, "[Redacted]");
    assert.equal(entry.detail, "the header was Bearer [Redacted]");
  });

  it("drops lines below the level BATON_LOG_LEVEL names", () => {
    const lines = stderrOf(`
      const { loadConfig } = require(${JSON.stringify(path.join(ROOT, "src", "config"))});
      const log = createLogger(loadConfig(process.env).logLevel);
      log.debug("d"); log.info("i"); log.warn("w"); log.error("e");`, { BATON_LOG_LEVEL: "warn" });
    assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ["w", "e"]);
  });

  it("writes readable lines, not JSON, in pretty mode (the default on a terminal)", async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
    createLogger("info", { destination: out, pretty: true }).warn("lease lost", { lease_ms: 3000, token: "secret-6" });
    await new Promise((resolve) => setImmediate(resolve));
    const text = chunks.join("");
    assert.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: lease lost \{"lease_ms":3000,"token":"\[Redacted\]"\}\n$/);
  });
});
