/*
 * A failed check's error (src/daemon/check.ts) and its one-line summary (src/agent-error.ts): pure.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorSummary } from "../../src/agent-error";
import { checkError, quoteCommand } from "../../src/daemon/check";

describe("a failed check's error", () => {
  it("names the check and how it ended, then quotes the end of its output", () => {
    assert.equal(
      checkError("npm test", { exitCode: 1, signal: null }, "> test\n\nnot ok 1 - adds\n  AssertionError: 2 !== 3\n"),
      "The check `npm test` exited with status 1; the end of its output:\n> test\n\nnot ok 1 - adds\n  AssertionError: 2 !== 3",
    );
    assert.equal(checkError("make check", { exitCode: null, signal: "SIGKILL" }, "building\n"), "The check `make check` was killed by SIGKILL; the end of its output:\nbuilding");
  });

  it("says so when the check printed nothing", () => {
    assert.equal(checkError("false", { exitCode: 1, signal: null }, "  \n"), "The check `false` exited with status 1 and printed nothing.");
  });

  it("quotes a long or multi-line command shortened to one line", () => {
    assert.equal(quoteCommand("npm ci &&\n  npm test"), "npm ci && npm test");
    const long = quoteCommand("x".repeat(500));
    assert.equal(long.length, 200);
    assert.ok(long.endsWith("…"));
  });
});

describe("errorSummary of a failed check", () => {
  it("keeps which check failed, then the output's most useful line", () => {
    const error = checkError("npm test", { exitCode: 1, signal: null }, "not ok 1 - adds\n  AssertionError: 2 !== 3\n# fail 1\n");
    assert.equal(errorSummary(error), "The check `npm test` exited with status 1: AssertionError: 2 !== 3");
  });

  it("is the check's line alone when it printed nothing", () => {
    assert.equal(errorSummary("The check `false` exited with status 1 and printed nothing."), "The check `false` exited with status 1");
  });
});
