/*
 * The agent command's script path (src/daemon/agent-command.ts), against a real directory: a relative
 * script resolves against the daemon's directory, everything else runs as written.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { resolveAgentCommand } from "../../src/daemon/agent-command";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-agent-command-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.mkdirSync(path.join(dir, "examples"));
fs.writeFileSync(path.join(dir, "examples", "agent.js"), "");
fs.writeFileSync(path.join(dir, "agent.py"), "");
fs.writeFileSync(path.join(dir, "run agent.sh"), "");
const resolve = (command: string) => resolveAgentCommand(command, dir).command;

describe("resolveAgentCommand", () => {
  it("makes a program's first argument absolute when it is a relative path to a file in the daemon's directory", () => {
    assert.equal(resolve("node examples/agent.js"), `node ${dir}/examples/agent.js`);
    assert.equal(resolve("  node ./examples/agent.js --fast"), `  node ${dir}/examples/agent.js --fast`);
    assert.equal(resolve("python3 agent.py"), `python3 ${dir}/agent.py`);
    assert.equal(resolve(`node "examples/agent.js" 'x'`), `node ${dir}/examples/agent.js 'x'`);
    assert.equal(resolve("/usr/bin/node examples/agent.js"), `/usr/bin/node ${dir}/examples/agent.js`);
  });

  it("makes the first word absolute when it is a relative path (has a /), and leaves its arguments", () => {
    assert.equal(resolve("./examples/agent.js examples/agent.js"), `${dir}/examples/agent.js examples/agent.js`);
    assert.equal(resolve("'./run agent.sh' --go"), `'${dir}/run agent.sh' --go`);
  });

  it("quotes a resolved path that holds spaces or quotes", () => {
    assert.equal(resolve("sh 'run agent.sh'"), `sh '${dir}/run agent.sh'`);
  });

  it("leaves options, absolute paths, directories, expansions and programs on PATH as written", () => {
    for (const command of [
      "claude -p --dangerously-skip-permissions",
      `node ${dir}/examples/agent.js`,
      "node examples",
      'node "$HOME/agent.js"',
      "node $PWD/examples/agent.js",
      "FOO=1 node examples/agent.js",
      "agent.py",
      "node",
      "",
    ]) {
      assert.deepEqual(resolveAgentCommand(command, dir), { command, changed: false }, command);
    }
  });

  it("names a relative script path that is no file in the daemon's directory", () => {
    assert.deepEqual(resolveAgentCommand("node examples/nope.js", dir), { command: "node examples/nope.js", changed: false, missing: `${dir}/examples/nope.js` });
    assert.deepEqual(resolveAgentCommand("./run.sh", dir), { command: "./run.sh", changed: false, missing: `${dir}/run.sh` });
    assert.deepEqual(resolveAgentCommand("python3 nope.py", dir), { command: "python3 nope.py", changed: false, missing: `${dir}/nope.py` });
    assert.deepEqual(resolveAgentCommand("claude chat", dir), { command: "claude chat", changed: false });
  });

  it("says when it changed the command", () => {
    assert.deepEqual(resolveAgentCommand("node agent.py", dir), { command: `node ${dir}/agent.py`, changed: true });
  });
});
