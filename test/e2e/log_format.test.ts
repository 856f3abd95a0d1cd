/*
 * Issue 11 point 6: on a terminal the server's and the daemon's logs are readable lines; piped, they
 * are JSON, one object per line. Real processes: `baton server` and `baton daemon run` piped (the e2e
 * helpers), then each again on a pseudo-terminal made by util-linux `script -qec CMD /dev/null` (its
 * stderr is the terminal). Each waits on the line it must print, never on a sleep.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { after, describe, it } from "node:test";
import { BATON_BIN, freePort, startDaemon, startServer, useE2E, waitForE2E, writeAgent, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();
const hasScript = (() => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** Processes on a pseudo-terminal: `script` and what it runs (in a session of its own, so stopped by pid). */
const onTerminal: ChildProcess[] = [];
async function stopTerminals(): Promise<void> {
  for (const child of onTerminal.splice(0)) {
    const kids = execFileSync("ps", ["-o", "pid=", "--ppid", String(child.pid)], { encoding: "utf8" }).trim().split(/\s+/).filter(Boolean).map(Number);
    for (const pid of kids) process.kill(pid, "SIGTERM");
    if (child.exitCode === null) await new Promise((r) => child.once("exit", r));
  }
}
after(stopTerminals); // only when a test failed before stopping them itself

/** `node bin/baton.js ARGS` on a terminal; returns what it wrote there so far (colours and CRs removed). */
function runOnTerminal(args: string[], env: NodeJS.ProcessEnv): () => string {
  const cmd = ["exec", process.execPath, BATON_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ").replace(/^'exec'/, "exec");
  const child = spawn("script", ["-qec", cmd, "/dev/null"], { env, stdio: ["ignore", "pipe", "pipe"] });
  onTerminal.push(child);
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (t: string) => (out += t));
  return () => out.replace(/\x1b\[[0-9;]*m/g, "").replace(/\r/g, "");
}

const jsonLines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as { level: string; msg: string };
      } catch {
        throw new Error(`a piped log line is not JSON: ${l}`);
      }
    });

describe("log lines", { skip: hasScript ? false : "util-linux script is not installed" }, () => {
  let server: ServerProcess;

  it("are JSON objects when piped: the server's and the daemon's", async () => {
    server = await startServer(e2e, { env: { BATON_LOG_LEVEL: "info" } });
    const listening = await waitForE2E(e2e, "the piped server to log that it listens", () => jsonLines(server.proc.log.join("")).find((l) => l.msg === "baton server listening"));
    assert.equal(listening.level, "info");
    const daemon = await startDaemon(e2e, server, { agentCommand: writeAgent(e2e, "exit 0\n") });
    const lines = await waitForE2E(e2e, "the piped daemon to log", () => daemon.proc.log.join("").trim() && jsonLines(daemon.proc.log.join("")));
    assert.ok(lines.every((l) => typeof l.msg === "string" && typeof l.level === "string"), JSON.stringify(lines));
  });

  it("are readable lines on a terminal: the server's and the daemon's", async () => {
    const port = await freePort();
    const serverOut = runOnTerminal(["server"], { ...server.env, DATABASE_URL: e2e.db.url, BATON_PORT: String(port), BATON_DATA_DIR: e2e.tempDir("tty-data"), BATON_LOG_LEVEL: "info" });
    const line = await waitForE2E(e2e, "the server on a terminal to log that it listens", () => serverOut().split("\n").find((l) => l.includes("baton server listening")));
    assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: baton server listening \{"url":"http:\/\/127\.0\.0\.1:\d+",/);

    const daemonOut = runOnTerminal(["daemon", "run", "--agent-command", "true", "--name", "tty-daemon", "--work-dir", e2e.tempDir("tty-work"), "--grace", "1"], {
      ...server.env,
      BATON_LOG_LEVEL: "info",
    });
    const first = await waitForE2E(e2e, "the daemon on a terminal to log", () => daemonOut().split("\n").find((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN)/.test(l)));
    assert.doesNotMatch(first, /^\{/);
    assert.doesNotMatch(daemonOut(), /"level":/, "no JSON on a terminal");
    await stopTerminals(); // before useE2E drops the database they use
  });
});
