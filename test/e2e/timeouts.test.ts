/*
 * Timeouts, stalls and cancel with real processes: a `baton server` whose sweep runs every 200 ms
 * (BATON_SWEEP_MS), one `baton daemon run`, and an agent that hangs on its first attempt at a step (it
 * records its pid and a child's, both in its process group) and completes on the next. The server
 * interrupts a hung attempt past its timeout or stall limit; `baton task cancel` and `baton directive
 * pause --interrupt` stop attempts by hand. Each time the daemon must kill the agent's whole process
 * group, and the step must run again as the rules say.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { running } from "../helpers/faults";
import { cli, cliJson, cliOk, startDaemon, startServer, useE2E, waitForE2E, writeAgent, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();
let server: ServerProcess;
let marks: string;

/*
 * MODE chatty: prints a line every 200 ms forever; silent: prints one line and then nothing. Either
 * way only the first attempt at a step hangs (a `ran-STEP` mark remembers it); later ones exit 0.
 */
const AGENT = `#!/bin/sh
if [ -f "$E2E_MARKS/ran-$BATON_STEP_ID" ]; then echo "second attempt: done"; exit 0; fi
touch "$E2E_MARKS/ran-$BATON_STEP_ID"
sleep 600 &
echo "$$ $!" > "$E2E_MARKS/pids-$BATON_TASK_ID"
if [ "$(cat "$E2E_MARKS/mode-$BATON_STEP_ID" 2>/dev/null)" = chatty ]; then
  while :; do echo tick; sleep 0.2; done
fi
echo "working quietly"
wait
`;

/* The server and the daemon, started by the first test that needs them (useE2E's hooks make the database first). */
let started: Promise<void> | undefined;
const ready = () =>
  (started ??= (async () => {
    marks = e2e.tempDir("marks");
    server = await startServer(e2e, { env: { BATON_SWEEP_MS: "200" } });
    await startDaemon(e2e, server, { agentCommand: writeAgent(e2e, AGENT), maxTasks: 4, env: { E2E_MARKS: marks } });
  })());

type TaskRow = { id: string; attempt: number; status: string; error: string | null; started_at: Date; finished_at: Date | null };

const tasksOf = async (stepId: string) =>
  (await e2e.db.pool.query<TaskRow>("select id, attempt, status, error, started_at, finished_at from baton.tasks where step_id = $1 order by attempt", [stepId])).rows;

const stepStatus = async (stepId: string) => (await e2e.db.pool.query<{ status: string }>("select status from baton.directive_steps where id = $1", [stepId])).rows[0]!.status;

/** The pids the agent of this task recorded: itself (the process group's leader) and its child. */
async function agentPids(taskId: string): Promise<number[]> {
  const file = path.join(marks, `pids-${taskId}`);
  const text = await waitForE2E(e2e, `the agent of task ${taskId} to record its pids`, () => fs.existsSync(file) && fs.readFileSync(file, "utf8").trim());
  const pids = text.split(/\s+/).map(Number);
  after(() => pids.forEach((p) => running(p) && process.kill(p, "SIGKILL"))); // only if a test failed
  return pids;
}

const waitGone = (pids: number[]) => waitForE2E(e2e, `processes ${pids.join(", ")} to be killed`, () => pids.every((p) => !running(p)));

/** A directive with the given steps (`mode` written before it starts); returns the ids. */
async function directiveWith(createArgs: string[], steps: { name: string; mode: "chatty" | "silent"; args?: string[] }[]) {
  const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Hangs", "--goal", "Hang, then finish", ...createArgs], { env: server.env });
  const ids: string[] = [];
  for (const s of steps) {
    const id = (await cliOk(["directive", "add-step", s.name, "--directive", d.rowId, ...(s.args ?? [])], { env: server.env })).trim();
    fs.writeFileSync(path.join(marks, `mode-${id}`), s.mode);
    ids.push(id);
  }
  return { id: d.rowId, steps: ids };
}

const runningTask = (stepId: string) =>
  waitForE2E(e2e, `step ${stepId}'s first attempt to run`, async () => (await tasksOf(stepId)).find((t) => t.attempt === 1 && t.status === "running"));

describe("the server's sweep", () => {
  it("interrupts an attempt past the directive's --timeout, the daemon kills its process group, and the retry completes", async () => {
    await ready();
    const d = await directiveWith(["--timeout", "2s"], [{ name: "Chatty", mode: "chatty" }]);
    const stepId = d.steps[0]!;
    await cliOk(["directive", "start", "--directive", d.id], { env: server.env });
    const first = await runningTask(stepId);
    const pids = await agentPids(first.id);
    const interrupted = await waitForE2E(e2e, "the first attempt to time out", async () => (await tasksOf(stepId)).find((t) => t.attempt === 1 && t.status === "interrupted"));
    assert.equal(interrupted.error, "Timed out after 2s (the directive's timeout).");
    assert.ok(interrupted.finished_at!.getTime() - interrupted.started_at.getTime() >= 2000, "not before its timeout");
    await waitGone(pids);
    await waitForE2E(e2e, "the step's retry to complete", async () => (await stepStatus(stepId)) === "completed");
    assert.deepEqual((await tasksOf(stepId)).map((t) => [t.attempt, t.status]), [[1, "interrupted"], [2, "completed"]]);
    // The output kept arriving until the end: a timeout, not a stall.
    const ticks = await e2e.db.pool.query<{ n: number }>("select count(*)::int as n from baton.task_output where task_id = $1 and text like '%tick%'", [first.id]);
    assert.ok(ticks.rows[0]!.n >= 2);
  });

  it("interrupts an attempt without output for its step's stall limit (batch-add-steps \"stall\"), and the retry completes", async () => {
    await ready();
    const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Stalls", "--goal", "Go quiet"], { env: server.env });
    const added = await cliJson<{ rowId: string }[]>(
      ["directive", "batch-add-steps", "--directive", d.rowId, "--json", JSON.stringify([{ name: "Silent", stall: "2s" }])],
      { env: server.env },
    );
    const stepId = added[0]!.rowId;
    fs.writeFileSync(path.join(marks, `mode-${stepId}`), "silent");
    await cliOk(["directive", "start", "--directive", d.rowId], { env: server.env });
    const first = await runningTask(stepId);
    const pids = await agentPids(first.id);
    const interrupted = await waitForE2E(e2e, "the first attempt to stall", async () => (await tasksOf(stepId)).find((t) => t.attempt === 1 && t.status === "interrupted"));
    assert.equal(interrupted.error, "Stalled: no output for 2s (the step's stall limit).");
    await waitGone(pids);
    await waitForE2E(e2e, "the step's retry to complete", async () => (await stepStatus(stepId)) === "completed");
    // What the user reads: the interruption and its reason in the directive's events.
    const events = await cliOk(["directive", "events", "--directive", d.rowId], { env: server.env });
    assert.match(events, /running -> interrupted: Stalled: no output for 2s \(the step's stall limit\)\./);
  });
});

describe("stopping attempts by hand", () => {
  it("baton task cancel: the agent is killed, the step is failed by hand, and retry-step runs it again", async () => {
    await ready();
    const d = await directiveWith([], [{ name: "Cancelled", mode: "silent" }]);
    const stepId = d.steps[0]!;
    await cliOk(["directive", "start", "--directive", d.id], { env: server.env });
    const first = await runningTask(stepId);
    const pids = await agentPids(first.id);
    const out = await cliOk(["task", "cancel", first.id], { env: server.env });
    assert.equal(out, `Task ${first.id} is cancelled. Step ${stepId} is failed by hand; \`baton directive retry-step ${stepId}\` runs it again.\n`);
    await waitGone(pids);
    assert.equal(await stepStatus(stepId), "failed");
    const [t] = await tasksOf(stepId);
    assert.deepEqual([t!.status, t!.error], ["cancelled", "Cancelled by hand (baton task cancel)."]);
    // Cancelling it again says why not.
    const again = await cli(["task", "cancel", first.id], { env: server.env });
    assert.deepEqual([again.code, again.stderr], [1, `baton: Task ${first.id} is cancelled, so it cannot be cancelled; only pending, starting, running, waiting or checking tasks can. To run its step again, use \`baton directive retry-step ${stepId}\`.\n`]);
    await cliOk(["directive", "retry-step", stepId], { env: server.env });
    await waitForE2E(e2e, "the retried step to complete", async () => (await stepStatus(stepId)) === "completed");
    assert.deepEqual((await tasksOf(stepId)).map((x) => [x.attempt, x.status]), [[1, "cancelled"], [2, "completed"]]);
  });

  it("baton task cancel --retry: the agent is killed and the step runs again at once", async () => {
    await ready();
    const d = await directiveWith([], [{ name: "Retried", mode: "chatty" }]);
    const stepId = d.steps[0]!;
    await cliOk(["directive", "start", "--directive", d.id], { env: server.env });
    const first = await runningTask(stepId);
    const pids = await agentPids(first.id);
    const t = await cliJson<{ status: string; error: string }>(["task", "cancel", first.id, "--retry"], { env: server.env });
    assert.deepEqual([t.status, t.error], ["cancelled", "Cancelled by hand (baton task cancel --retry); the step runs again."]);
    await waitGone(pids);
    await waitForE2E(e2e, "the step to run again and complete", async () => (await stepStatus(stepId)) === "completed");
    const attempts = await e2e.db.pool.query<{ attempts: number }>("select attempts from baton.directive_steps where id = $1", [stepId]);
    assert.equal(attempts.rows[0]!.attempts, 1, "the cancelled attempt was given back");
  });

  it("baton directive pause --interrupt: the running agents are killed, nothing runs while paused, and resuming runs them again", async () => {
    await ready();
    const d = await directiveWith([], [
      { name: "One", mode: "silent" },
      { name: "Two", mode: "chatty" },
    ]);
    await cliOk(["directive", "start", "--directive", d.id], { env: server.env });
    const firsts = await Promise.all(d.steps.map(runningTask));
    const pids = (await Promise.all(firsts.map((t) => agentPids(t.id)))).flat();
    const paused = await cliJson<{ status: string }>(["directive", "pause", "--interrupt", "--directive", d.id], { env: server.env });
    assert.equal(paused.status, "paused");
    await waitGone(pids);
    for (const stepId of d.steps) {
      const [t, ...rest] = await tasksOf(stepId);
      assert.deepEqual([t!.status, t!.error, rest.length], ["interrupted", "Interrupted: the directive was paused with --interrupt; the step runs again when it is resumed.", 0]);
      assert.equal(await stepStatus(stepId), "ready");
    }
    await cliOk(["directive", "start", "--directive", d.id], { env: server.env });
    await waitForE2E(e2e, "both steps to run again and complete", async () => (await Promise.all(d.steps.map(stepStatus))).every((s) => s === "completed"));
  });
});

describe("limits on the command line", () => {
  it("add-step --timeout/--stall and directive update store seconds; none removes a limit", async () => {
    await ready();
    const d = await directiveWith(["--timeout", "1h30m", "--stall", "5m"], [{ name: "Limited", mode: "chatty", args: ["--timeout", "90s", "--stall", "45"] }]);
    const limits = async (table: string, id: string) =>
      Object.values((await e2e.db.pool.query(`select timeout_seconds, stall_seconds from baton.${table} where id = $1`, [id])).rows[0]!);
    assert.deepEqual(await limits("directives", d.id), [5400, 300]);
    assert.deepEqual(await limits("directive_steps", d.steps[0]!), [90, 45]);
    const status = await cliOk(["directive", "status", "--directive", d.id], { env: server.env });
    assert.match(status, /\nlimits per attempt: timeout 1h30m, stall 5m\n/);
    assert.match(status, /  Limited\n    limits: timeout 1m30s, stall 45s\n/);
    const out = await cliOk(["directive", "update", "--timeout", "none", "--stall", "2h", "--directive", d.id], { env: server.env });
    assert.equal(out, `Limits of ${d.id}: timeout none, stall 2h.\n`);
    assert.deepEqual(await limits("directives", d.id), [null, 7200]);
  });

  it("refuses a duration that is not one, naming the flag (exit 2), and a bad one in batch-add-steps (exit 1)", async () => {
    await ready();
    const bad = await cli(["directive", "create", "--title", "T", "--goal", "G", "--timeout", "banana"], { env: server.env });
    assert.deepEqual([bad.code, bad.stderr], [2, 'baton: --timeout must be a duration such as 90s, 30m, 2h or 1h30m, from 1s to 30d (got "banana").\n']);
    const zero = await cli(["directive", "update", "--stall", "0s", "--directive", "3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f"], { env: server.env });
    assert.deepEqual([zero.code, zero.stderr], [2, 'baton: --stall must be a duration such as 90s, 30m, 2h or 1h30m, from 1s to 30d, or none to remove it (got "0s").\n']);
    const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", "T", "--goal", "G"], { env: server.env });
    const batch = await cli(["directive", "batch-add-steps", "--directive", d.rowId, "--json", JSON.stringify([{ name: "a", timeout: "soon" }])], { env: server.env });
    assert.deepEqual(
      [batch.code, batch.stderr],
      [1, 'baton: Entry 1 has an invalid "timeout": it must be a duration such as "90s", "30m", "2h" or "1h30m" (or a number of seconds), from 1 second to 30 days.\n'],
    );
    const nothing = await cli(["directive", "update", "--directive", d.rowId], { env: server.env });
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /--timeout DURATION, --stall DURATION/);
  });
});
