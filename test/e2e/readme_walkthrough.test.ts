/*
 * The README's walkthrough ("Five minutes with Baton"), run as written: the test reads the ```sh blocks
 * of that section from README.md and runs their commands, so it fails when the README and the product
 * disagree (a renamed flag, a path that does not resolve, a result that is not where it says).
 *
 * Its three blocks are its three terminals: the server (`npm ci`, then `npm start` in the background),
 * a daemon (`npx baton daemon run ...` in the background) and the user's commands, each run to its end
 * by `sh -c` exactly as written and required to exit 0. All three run in one temp directory.
 *
 * How it maps to "from a fresh clone":
 *   - the temp directory holds the checkout's committed examples/ (git ls-files), and nothing else: no
 *     .baton, no .baton-work, no credentials, no state, as in a fresh clone;
 *   - `npm ci` is stood in for by this checkout's node_modules and dist/ (scripts/test.js rebuilds dist/
 *     from src/ first): running npm ci here would download, and would be the package manager's test;
 *   - `npm start` runs package.json's "start" script with its bin/baton.js taken from this checkout;
 *     `npx baton ARGS` runs this checkout's bin/baton.js (what npx resolves to in a clone);
 *   - the server gets DATABASE_URL (the test's database, instead of an embedded cluster that would
 *     take a minute to init) and BATON_PORT (a free port instead of 4000, which another test or server
 *     may hold); every other setting is the default: ./.baton, ./.baton-work, the credentials the
 *     server writes there;
 *   - /tmp/baton-demo becomes a path in the temp directory, and `export BATON_DIRECTIVE_ID=<the id
 *     printed on the first line>` takes the id from the first line `directive create` printed.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { BATON_BIN, baseEnv, freePort, git, useE2E, waitForE2E, type CliResult } from "../helpers/e2e";

const e2e = useE2E();
const ROOT = path.join(__dirname, "..", "..");

/** The ```sh blocks of the README section `title` (up to its first subsection), each as its commands (continuation lines joined, comments kept: sh drops them). */
export function walkthroughBlocks(readme: string, title: string): string[][] {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README.md has no section "## ${title}"`);
  const end = readme.slice(start + 1).search(/\n###? /); // its own text, not its subsections
  const section = readme.slice(start, end < 0 ? undefined : start + 1 + end);
  return [...section.matchAll(/\n```sh\n([\s\S]*?)\n```/g)].map((m) =>
    m[1]!
      .replace(/\\\n\s*/g, "")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#")),
  );
}

/** `sh -c CMD` in `cwd`, to its end. */
function sh(cmd: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", cmd], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (t: string) => (stdout += t));
    child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`\`${cmd}\` did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}\n${e2e.logTails()}`));
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

describe("the README's walkthrough, as written", () => {
  const ran: { cmd: string; result: CliResult }[] = [];
  let dir: string;
  let repo: string;
  let directiveId: string;

  before(async () => {
    const blocks = walkthroughBlocks(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"), "Five minutes with Baton");
    assert.equal(blocks.length, 3, `three terminals: ${JSON.stringify(blocks)}`);
    const [serverBlock, daemonBlock, userBlock] = blocks as [string[], string[], string[]];

    // The "fresh clone": the committed examples/, nothing else.
    dir = e2e.tempDir("clone");
    for (const file of execFileSync("git", ["-C", ROOT, "ls-files", "examples"], { encoding: "utf8" }).split("\n").filter(Boolean)) {
      fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), execFileSync("git", ["-C", ROOT, "show", `HEAD:${file}`]));
    }
    repo = path.join(dir, "baton-demo");

    // npm and npx stand-ins on PATH (see the header).
    const start = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start;
    assert.match(start, /^node bin\/baton\.js /, "package.json's start script runs bin/baton.js");
    const shims = e2e.tempDir("shims");
    const node = JSON.stringify(process.execPath);
    const bin = JSON.stringify(BATON_BIN);
    fs.writeFileSync(
      path.join(shims, "npm"),
      `#!/bin/sh\ncase "$1" in\n  ci) echo "npm ci: this checkout's node_modules and dist/ stand in"; exit 0;;\n  *) echo "npm $1: not stood in for by the test" >&2; exit 127;;\nesac\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(shims, "npx"), `#!/bin/sh\n[ "$1" = baton ] || { echo "npx $1: only npx baton is stood in for" >&2; exit 127; }\nshift\nexec ${node} ${bin} "$@"\n`, {
      mode: 0o755,
    });
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...baseEnv(), PATH: `${shims}${path.delimiter}${process.env.PATH}`, DATABASE_URL: e2e.db.url, BATON_PORT: String(port) };
    const walk = (cmd: string) => cmd.replaceAll("/tmp/baton-demo", repo);

    // Terminal 1: npm ci (the shim), then npm start: package.json's start script, spawned here so that cleanup stops it.
    for (const cmd of serverBlock.slice(0, -1)) assert.equal((await sh(walk(cmd), dir, env)).code, 0, cmd);
    assert.equal(serverBlock.at(-1), "npm start");
    const server = e2e.spawn("server", [BATON_BIN, ...start.replace(/^node bin\/baton\.js /, "").split(" ")], env, dir);
    const credentials = path.join(dir, ".baton", "credentials.json");
    await waitForE2E(e2e, "the server to write .baton/credentials.json and answer /healthz", async () => fs.existsSync(credentials) && (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, {
      timeoutMs: 90_000,
      unless: server,
    });

    // Terminal 2: the daemon, as typed: the shell splits its words, and `npx baton` is this checkout's bin/baton.js.
    assert.equal(daemonBlock.length, 1);
    const words = execFileSync("sh", ["-c", `printf '%s\\0' ${walk(daemonBlock[0]!)}`], { encoding: "utf8" }).split("\0").slice(0, -1);
    assert.deepEqual(words.slice(0, 4), ["npx", "baton", "daemon", "run"]);
    const daemon = e2e.spawn("daemon:readme", [BATON_BIN, ...words.slice(2)], env, dir);
    await waitForE2E(e2e, "the walkthrough's daemon to register", async () => (await e2e.db.pool.query("select 1 from baton.daemons where status = 'connected'")).rowCount, {
      timeoutMs: 60_000,
      unless: daemon,
    });

    // Terminal 3: every command to its end.
    for (const cmd of userBlock) {
      const m = /^export BATON_DIRECTIVE_ID=(.*)$/.exec(cmd);
      if (m) {
        assert.equal(m[1], "<the id printed on the first line>");
        const created = ran.at(-1)!;
        assert.match(created.cmd, /^npx baton directive create /);
        directiveId = /^[^\n]*?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(created.result.stdout)?.[1] ?? "";
        assert.ok(directiveId, `the first line of directive create names the id:\n${created.result.stdout}`);
        env.BATON_DIRECTIVE_ID = directiveId;
        continue;
      }
      const result = await sh(walk(cmd), dir, env);
      ran.push({ cmd, result });
      assert.equal(result.code, 0, `\`${cmd}\` exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}\n${e2e.logTails()}`);
    }
  });

  const output = (prefix: string) => {
    const r = ran.find((x) => x.cmd.startsWith(prefix));
    assert.ok(r, `the walkthrough runs ${prefix}`);
    return r.result.stdout;
  };

  it("keeps its data in ./.baton and ./.baton-work of the directory it was started in", () => {
    assert.ok(fs.existsSync(path.join(dir, ".baton", "credentials.json")));
    assert.ok(fs.existsSync(path.join(dir, ".baton-work")));
  });

  it("watch ends with the pushed result, and status shows it", () => {
    const branch = `baton/${directiveId.replace(/-/g, "").slice(0, 8)}/result`;
    const commit = git(repo, "rev-parse", branch);
    const resultLine = `result: ${branch} at ${commit.slice(0, 10)}`;
    assert.deepEqual(output("npx baton directive watch").trim().split("\n").slice(-2), [resultLine, "idle: 4/4 steps settled, outcome succeeded"]);
    assert.ok(output("npx baton directive status").includes(`\n${resultLine}\n`), output("npx baton directive status"));
  });

  it("the result branch holds the diamond's work, and git branch --list finds it", () => {
    const branch = `baton/${directiveId.replace(/-/g, "").slice(0, 8)}/result`;
    assert.equal(ran.find((x) => x.cmd.includes("branch --list"))!.result.stdout.trim(), branch);
    assert.deepEqual(git(repo, "ls-tree", "--name-only", branch).split("\n").sort(), [
      "assemble-the-document.txt",
      "write-the-body.txt",
      "write-the-introduction.txt",
      "write-the-outline.txt",
    ]);
  });

  it("graph draws the DAG, and logs shows what the example agent printed, by step", () => {
    assert.match(output("npx baton directive graph"), /Assemble the document/);
    const logs = output("npx baton directive logs");
    assert.match(logs, /^planner #1 \| planned 4 steps:$/m);
    assert.match(logs, /^Write the outline #1 \| wrote write-the-outline\.txt$/m);
  });
});
