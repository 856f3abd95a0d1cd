/*
 * Bad input to the real `baton` binary: one clear line on stderr, exit 1 (the operation failed) or 2
 * (usage), and nothing written: the counts of baton.directive_steps and baton.step_dependencies are
 * the same before and after. Also: `--help` on every command exits 0 and shows an example.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { before, describe, it } from "node:test";
import { cli, cliJson, freePort, startServer, stepRowCounts, useE2E, type CliResult, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();

let server: ServerProcess;
let directive: string;
let stepA: string;
let stepB: string;

before(async () => {
  server = await startServer(e2e);
  directive = (await cliJson<{ rowId: string }>(["directive", "create", "--title", "Errors", "--goal", "Refuse bad input"], { env: server.env })).rowId;
  [stepA, stepB] = (
    await cliJson<{ rowId: string }[]>(["directive", "batch-add-steps", "--directive", directive, "--json", '[{"key": "a", "name": "A"}, {"name": "B", "dependsOn": ["a"]}]'], { env: server.env })
  ).map((s) => s.rowId) as [string, string];
});

/** Runs a command that must fail with `code` and one stderr line matching `message`, writing nothing. */
async function refuses(args: string[], code: 1 | 2, message: RegExp, opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const before = await stepRowCounts(e2e.db);
  const r = await cli(args, { env: opts.env ?? { ...server.env, BATON_DIRECTIVE_ID: directive }, input: opts.input });
  assert.equal(r.code, code, `baton ${args.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout, "", "nothing on stdout");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^baton: /);
  assert.match(lines[0]!, message);
  assert.deepEqual(await stepRowCounts(e2e.db), before, "nothing was written");
  return r;
}

describe("bad input to the CLI", () => {
  it("refuses a batch with a dependency cycle, printing the cycle with →", async () => {
    const batch = JSON.stringify([
      { key: "x", name: "X", dependsOn: ["z"] },
      { key: "y", name: "Y", dependsOn: ["x"] },
      { key: "z", name: "Z", dependsOn: ["y"] },
      { name: "Innocent bystander" },
    ]);
    await refuses(["directive", "batch-add-steps", "--json", batch], 1, /^baton: The batch has a dependency cycle: (x → z → y → x|z → y → x → z|y → x → z → y) \(each depends on the next\)\. Remove one of these dependencies so the steps form a DAG\.$/);
  });

  it("refuses set-deps that would close a cycle, printing the cycle with →", async () => {
    await refuses(["directive", "set-deps", stepA, stepB], 1, new RegExp(`cycle.*A \\(${stepA.slice(0, 8)}\\) → .*B \\(${stepB.slice(0, 8)}\\)`));
  });

  it("refuses unknown ids with the not-found message (BTNFD)", async () => {
    const ghost = randomUUID();
    await refuses(["directive", "add-step", "C", "--depends-on", ghost], 1, new RegExp(`depends on "${ghost}", which is neither a key in this batch nor a step of directive ${directive}\\.`));
    await refuses(["directive", "batch-add-steps", "--json", JSON.stringify([{ name: "C", dependsOn: [ghost] }])], 1, new RegExp(`^baton: Entry 1 \\("C"\\) depends on "${ghost}", which is neither a key in this batch nor a step of directive ${directive}\\.`));
    await refuses(["directive", "retry-step", ghost], 1, new RegExp(`${ghost}.*does not exist`, "i"));
    await refuses(["directive", "add-step", "C", "--directive", ghost], 1, new RegExp(`${ghost}.*does not exist`, "i"));
    await refuses(["directive", "status", "--directive", ghost], 1, new RegExp(`^baton: Directive ${ghost} does not exist\\. List your directives with \`baton directive list\`\\.$`));
  });

  it("refuses malformed JSON steps, inline or on stdin, with a usage error", async () => {
    await refuses(["directive", "batch-add-steps", "--json", '[{"name": "C",'], 2, /^baton: The steps are not valid JSON \(.+\); give an array like \[\{"key": "a", "name": "First step"\}\]\.$/);
    await refuses(["directive", "batch-add-steps"], 2, /^baton: The steps are not valid JSON/, { input: "not json" });
    await refuses(["directive", "batch-add-steps", "--json", '[{"nam": "C"}]'], 2, /^baton: Invalid batch: entry 1, field "name": .+\. Each entry is \{"key"\?, "name", /);
    await refuses(["directive", "batch-add-steps", "--json", "[]"], 2, /the batch is empty/);
  });

  it("refuses a command without a directive id (no --directive, no BATON_DIRECTIVE_ID) with exit 2", async () => {
    const message = /^baton: No directive given: pass --directive ID or set BATON_DIRECTIVE_ID\.$/;
    await refuses(["directive", "add-step", "C"], 2, message, { env: server.env });
    await refuses(["directive", "batch-add-steps", "--json", '[{"name": "C"}]'], 2, message, { env: server.env });
    await refuses(["directive", "status"], 2, message, { env: server.env });
  });

  it("refuses an id that is not a UUID with exit 2", async () => {
    await refuses(["directive", "retry-step", "not-a-uuid"], 2, /^baton: STEP_ID must be a UUID such as .+ \(got "not-a-uuid"\)/);
  });

  it("fails with one line when the API cannot be reached or the token is not one", async () => {
    const port = await freePort();
    await refuses(["directive", "status", "--api", `http://127.0.0.1:${port}`], 1, new RegExp(`^baton: Cannot reach the Baton API at http://127\\.0\\.0\\.1:${port}/graphql \\(.*ECONNREFUSED.*\\)\\. Is \`baton server\` running\\?$`));
    await refuses(["directive", "add-step", "C", "--token", "garbage"], 1, /^baton: The token is not a JWT/);
  });

  it("exits 2 on an unknown option or a missing argument", async () => {
    for (const args of [["directive", "status", "--no-such-option"], ["directive", "add-step"], ["directive", "create", "--title", "T"]]) {
      const r = await cli(args, { env: server.env });
      assert.equal(r.code, 2, `baton ${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^error: /);
    }
  });

  it("--help on every command exits 0 and shows an example", async () => {
    const commandsOf = (help: string) => {
      const section = help.split(/^Commands:$/m)[1] ?? "";
      return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== "help");
    };
    const help = async (path: string[]) => {
      const r = await cli([...path, "--help"], { env: server.env });
      assert.equal(r.code, 0, `baton ${path.join(" ")} --help exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    };
    const leaves: string[][] = [];
    const groups = commandsOf(await help([]));
    assert.ok(groups.includes("directive") && groups.includes("daemon"), groups.join(", "));
    await Promise.all(
      groups.map(async (group) => {
        const text = await help([group]);
        const sub = commandsOf(text);
        if (sub.length === 0) leaves.push([group]);
        else for (const c of sub) leaves.push([group, c]);
      }),
    );
    assert.ok(leaves.length >= 20, `found only ${leaves.length} commands`);
    const queue = [...leaves];
    const missing: string[] = [];
    await Promise.all(
      [1, 2, 3, 4].map(async () => {
        for (let path = queue.shift(); path; path = queue.shift()) {
          const text = await help(path);
          if (!/^Examples?:\n {2}\S/m.test(text)) missing.push(path.join(" "));
        }
      }),
    );
    assert.deepEqual(missing, [], "commands whose --help shows no example");
  });
});

describe("a reader that goes away", () => {
  // `baton directive logs | head -4`: the pipe closes while the CLI still writes. It stops quietly
  // (exit 0, nothing on stderr) instead of dying on an unhandled EPIPE with a stack trace.
  it("stops quietly with exit 0 when its stdout is closed early", async () => {
    const child = spawn(process.execPath, [path.join(__dirname, "..", "..", "bin", "baton.js"), "--help"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.deepEqual({ code, stderr }, { code: 0, stderr: "" });
  });
});
