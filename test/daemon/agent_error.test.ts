/*
 * A failed agent's error (src/agent-error.ts): what is recorded, and the one line the CLI shows.
 * The stderr texts are what the runtimes really print.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentError, ERROR_TAIL_CHARS, errorSummary } from "../../src/agent-error";

const MODULE_NOT_FOUND = `node:internal/modules/cjs/loader:1210
  throw err;
  ^

Error: Cannot find module '/tmp/x/examples/agent.js'
    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)
    at Module._load (node:internal/modules/cjs/loader:1038:27)
    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:164:12)
    at node:internal/main/run_main_module:28:49 {
  code: 'MODULE_NOT_FOUND',
  requireStack: []
}

Node.js v20.20.2
`;

const PYTHON = `Traceback (most recent call last):
  File "/w/agent.py", line 3, in <module>
    main()
  File "/w/agent.py", line 2, in main
    raise ValueError("no plan in the prompt")
ValueError: no plan in the prompt
`;

describe("agentError", () => {
  it("keeps the exit status and the stderr up to Node's banner, with the exception message", () => {
    assert.equal(agentError("The agent exited with status 1", MODULE_NOT_FOUND), `The agent exited with status 1:\n${MODULE_NOT_FOUND.trim()}`);
  });

  it("keeps the last 20 lines of a long stderr", () => {
    const stderr = Array.from({ length: 50 }, (_, i) => `line ${i + 1}`).join("\n") + "\n\n";
    const error = agentError("The agent exited with status 2", stderr);
    assert.deepEqual(error.split("\n"), ["The agent exited with status 2:", ...Array.from({ length: 20 }, (_, i) => `line ${i + 31}`)]);
  });

  it("does not count stack frames among the 20 lines, so a deep trace keeps its message", () => {
    const frames = Array.from({ length: 30 }, (_, i) => `    at f${i} (/w/agent.js:${i}:1)`);
    const stderr = ["Error: the real cause", ...frames, "", "Node.js v20.20.2"].join("\n");
    assert.equal(agentError("The agent exited with status 1", stderr), `The agent exited with status 1:\n${stderr}`);
  });

  it("keeps at most 2,000 characters, whole lines, the newest", () => {
    const stderr = Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(199, "x")).join("\n");
    const error = agentError("The agent exited with status 1", stderr);
    assert.ok(error.length <= ERROR_TAIL_CHARS, `${error.length}`);
    assert.match(error, /^The agent exited with status 1:\n11x+\n/); // 32 + 9 x 200 characters
    assert.match(error, /\n19x+$/);
  });

  it("keeps the end of one line longer than the cap", () => {
    const error = agentError("The agent exited with status 1", "a".repeat(5000) + "THE END");
    assert.ok(error.length <= ERROR_TAIL_CHARS, `${error.length}`);
    assert.match(error, /^The agent exited with status 1:\n…a+THE END$/);
  });

  it("says only the status when stderr is empty", () => {
    assert.equal(agentError("The agent was killed by SIGKILL", "\n  \n"), "The agent was killed by SIGKILL.");
  });
});

describe("errorSummary", () => {
  it("picks the exception message of a Node crash, not its banner", () => {
    assert.equal(errorSummary(agentError("The agent exited with status 1", MODULE_NOT_FOUND)), "Error: Cannot find module '/tmp/x/examples/agent.js'");
  });

  it("picks the exception of a Python traceback", () => {
    assert.equal(errorSummary(agentError("The agent exited with status 1", PYTHON)), "ValueError: no plan in the prompt");
  });

  it("picks the last meaningful line when nothing reads as an exception", () => {
    assert.equal(errorSummary('The agent exited with status 1:\nexample agent: failing "Write the body" on purpose (EXAMPLE_AGENT_FAIL)'), 'example agent: failing "Write the body" on purpose (EXAMPLE_AGENT_FAIL)');
    assert.equal(errorSummary("The agent exited with status 3:\nworking\nno tests found\n\n"), "no tests found");
  });

  it("keeps a one-line error as it is", () => {
    assert.equal(errorSummary("The agent exited with status 1."), "The agent exited with status 1.");
    assert.equal(errorSummary("Interrupted (the daemon is stopping)."), "Interrupted (the daemon is stopping).");
    assert.equal(errorSummary(""), "");
  });
});
