/*
 * `baton directive watch`'s view and outcome, as pure functions of a snapshot: what a terminal shows
 * under each running task (the last output lines), and when watch ends (exit 1 on any pause, with the
 * reason). The e2e tests (whole_day, integration) drive the piped form against real processes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DirectiveSnapshot } from "../../src/cli/commands/directive-status";
import { outcome, OutputTail, pauseReason, renderWatch } from "../../src/cli/render/watch";

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

function snapshot(status: string, tasks: Record<string, unknown>[] = []): DirectiveSnapshot {
  return {
    rowId: "d1", title: "Colors", status, repo: "/r", targetBranch: "baton/d1/result", resultBranch: null, resultCommit: null, resultUrl: null,
    directiveSteps: { nodes: [{ rowId: "s1", name: "Paint it red", status: "running", generation: 1 }] },
    tasks: { nodes: tasks.map((t) => ({ kind: "execution", attempt: 1, stepId: "s1", error: null, checkCommand: null, daemon: { name: "laptop" }, createdAt: new Date().toISOString(), startedAt: new Date().toISOString(), ...t })) },
  } as unknown as DirectiveSnapshot;
}

describe("watch's view", () => {
  it("keeps the last 3 non-empty lines of a task's output, whatever the chunking", () => {
    const tail = new OutputTail(3);
    for (const chunk of ["one\ntw", "o\n\nthree\r\n", "four\nfi", "ve"]) tail.add(chunk);
    assert.deepEqual(tail.lines(), ["three", "four", "five"]);
  });

  it("shows the last output lines under each running task", () => {
    const d = snapshot("active", [{ rowId: "t1", status: "running" }]);
    const view = plain(renderWatch(d, Date.now(), new Map([["t1", ["red: mixing", "red: done soon"]]]), 80));
    assert.match(view, /\nRunning:\n {2}Paint it red {2}on laptop {2}\d+s\n {4}red: mixing\n {4}red: done soon$/);
  });

  it("ends on any pause and says why, from the reason the server recorded, with where to look and how to go on", () => {
    assert.equal(outcome(snapshot("active")), "running");
    const byHand = snapshot("paused", [{ rowId: "t1", status: "completed" }]);
    assert.equal(outcome(byHand), "paused");
    assert.equal(pauseReason(byHand, "Paused by hand."), "Paused by hand. `baton directive start` resumes it");
    assert.equal(pauseReason(snapshot("active"), "Paused by hand."), null, "a reason left from an earlier pause is not shown");
    const failed = snapshot("paused", [{ rowId: "t9", kind: "integration", stepId: null, status: "failed", error: "exit status 1\nError: the push was rejected" }]);
    const reason = "Its integration failed on attempt 2 of 2 (task 7d3c5e2a-1b4f-4c8e-9a6d-0f1e2d3c4b5a): Error: the push was rejected.";
    assert.equal(outcome(failed), "paused");
    assert.equal(
      pauseReason(failed, reason),
      `${reason} \`baton task logs 7d3c5e2a-1b4f-4c8e-9a6d-0f1e2d3c4b5a\` shows what it printed; \`baton directive start\` resumes it`,
    );
    const usage = { reportedTasks: 0, budgetUsd: null, budgetTokens: null, pausedReason: reason } as unknown as Parameters<typeof renderWatch>[4];
    assert.match(plain(renderWatch(failed, Date.now(), new Map(), 80, usage)), /\npaused: Its integration failed on attempt 2 of 2 /);
    assert.equal(
      pauseReason(byHand, "Budget reached: it cost $1.2 of its $1 budget."),
      "Budget reached: it cost $1.2 of its $1 budget. `baton directive update --budget-usd/--budget-tokens` raises it; `baton directive start` resumes it",
    );
  });
});
