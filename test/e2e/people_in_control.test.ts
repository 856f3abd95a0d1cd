/*
 * People stay in control (issue 12, "Done when"), with real processes: a `baton server`, one
 * `baton daemon run --agent-output claude-json`, a scripted agent (a node script written by the test)
 * and a local HTTP receiver registered with `baton webhook add`. One directive, created with
 * --review-plans and a $1 budget:
 *
 *   its planner's plan (three steps: "Choose a color" -> "Paint the fence" -> "Paint the shed") is held
 *     as a proposal: `baton directive plan` shows it as added steps and nothing is dispatched, until
 *     `baton directive plan approve` applies it;
 *   "Choose a color" runs `baton ask "Which color?" --choice blue --choice red`: its task waits for
 *     input and the question is open; `baton directive answer` answers it and the agent goes on with it;
 *   each step's agent prints Claude Code's stream-json result object, with a total_cost_usd of 0.6:
 *     after the second step the directive has cost $1.20, so it is paused for its budget and the third
 *     step is not dispatched;
 *   the receiver gets the question, budget and paused events, each signed the Standard Webhooks way
 *     (the signature is recomputed here from the secret `webhook add` printed).
 *
 * Nothing waits on a sleep.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, describe, it } from "node:test";
import { cliJson, cliOk, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

const AGENT = String.raw`
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const prompt = fs.readFileSync(0, "utf8");
const result = (text) =>
  console.log(JSON.stringify({ type: "result", subtype: "success", is_error: false, result: text, total_cost_usd: 0.6, usage: { input_tokens: 1000, output_tokens: 200 } }));
if (process.env.BATON_TASK_KIND === "planning") {
  const steps = [
    { key: "choose", name: "Choose a color" },
    { key: "fence", name: "Paint the fence", dependsOn: ["choose"] },
    { key: "shed", name: "Paint the shed", dependsOn: ["fence"] },
  ];
  execFileSync("baton", ["directive", "batch-add-steps", "--json", JSON.stringify(steps)], { stdio: "inherit" });
  process.exit(0);
}
const step = /^# Your step: (.+)$/m.exec(prompt)[1];
if (step === "Choose a color") {
  const answer = execFileSync("baton", ["ask", "Which color?", "--choice", "blue", "--choice", "red"], { encoding: "utf8" }).trim();
  fs.writeFileSync(path.join(process.env.E2E_MARKS, "color"), answer);
  console.log("the owner chose " + answer);
}
result(step + ": done");
`;

type Received = { headers: http.IncomingHttpHeaders; body: string };

function receiver() {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  return {
    received,
    async start(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/baton`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("people stay in control", () => {
  it("reviews and approves the plan, answers the agent's question while it waits, pauses on the budget, and signs every webhook", async () => {
    const hooks = receiver();
    const hookUrl = await hooks.start();
    after(() => hooks.close());
    const server = await startServer(e2e, { env: { BATON_SWEEP_MS: "200" } });
    const marks = e2e.tempDir("marks");
    await startDaemon(e2e, server, {
      agentCommand: writeAgent(e2e, AGENT, "agent.js"),
      maxTasks: 2,
      args: ["--agent-output", "claude-json"],
      env: { E2E_MARKS: marks },
    });
    const env = server.env;
    const hook = await cliJson<{ secret: string }>(["webhook", "add", hookUrl, "--events", "question,budget,paused,idle"], { env });

    const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Fences", "--goal", "Paint the fence and the shed", "--review-plans", "--budget-usd", "1"], { env });
    const db = e2e.db.pool;
    const stepsOf = async () =>
      (await db.query<{ name: string; status: string }>("select name, status from baton.directive_steps where directive_id = $1 order by name", [d.rowId])).rows;

    // 1. The plan waits for review: shown as added steps, nothing of it live or dispatched.
    await cliOk(["directive", "start", "--directive", d.rowId], { env });
    const plan = await waitForE2E(e2e, "the planner's proposal", async () => {
      const r = await cliJson<PlanReview>(["directive", "plan", "--directive", d.rowId], { env });
      return r.proposal?.status === "proposed" && r;
    });
    assert.deepEqual(
      plan.changes.map((c) => [c.change, c.name, c.dependsOnNames ?? []]),
      [
        ["added", "Choose a color", []],
        ["added", "Paint the fence", ["Choose a color"]],
        ["added", "Paint the shed", ["Paint the fence"]],
      ],
    );
    assert.deepEqual(await stepsOf(), [], "nothing of the proposal is in the live plan");
    assert.equal((await db.query("select count(*)::int as n from baton.tasks where directive_id = $1 and kind = 'execution'", [d.rowId])).rows[0].n, 0);
    const text = await cliOk(["directive", "plan", "--directive", d.rowId], { env });
    assert.match(text, /waiting for review: 3 added, 0 removed, 0 re-wired, 0 kept\./);
    assert.match(text, /\n\+ Choose a color \([0-9a-f]{8}\)  added/);
    await cliOk(["directive", "plan", "approve", "--directive", d.rowId], { env }); // its parent `plan` has --directive too

    // 2. The agent asks; its task waits; the owner answers; the agent goes on with the answer.
    const question = await waitForE2E(e2e, "the agent's question", async () => {
      const open = await cliJson<{ rowId: string; question: string; choices: string[] }[]>(["directive", "questions", "--directive", d.rowId], { env });
      return open[0];
    });
    assert.deepEqual([question.question, question.choices], ["Which color?", ["blue", "red"]]);
    const waiting = await db.query<{ status: string }>("select t.status from baton.tasks t join baton.questions q on q.task_id = t.id where q.id = $1", [question.rowId]);
    assert.equal(waiting.rows[0]!.status, "waiting");
    await cliOk(["directive", "answer", question.rowId, "blue"], { env });
    await waitForE2E(e2e, "the agent to write the answer", () => fs.existsSync(path.join(marks, "color")));
    assert.equal(fs.readFileSync(path.join(marks, "color"), "utf8"), "blue");

    // 3. Two steps at $0.60 each reach the $1 budget: paused with the reason; the shed waits.
    const paused = await waitForE2E(e2e, "the directive to be paused for its budget", async () => {
      const r = await db.query("select status, paused_reason from baton.directives where id = $1 and status = 'paused'", [d.rowId]);
      return r.rows[0];
    });
    assert.deepEqual(paused, { status: "paused", paused_reason: "Budget reached: it cost $1.2 of its $1 budget." });
    await waitForE2E(e2e, "the fence to finish", async () => (await stepsOf()).find((s) => s.name === "Paint the fence")?.status === "completed");
    assert.deepEqual(
      (await stepsOf()).map((s) => [s.name, s.status]),
      [
        ["Choose a color", "completed"],
        ["Paint the fence", "completed"],
        ["Paint the shed", "ready"],
      ],
    );

    // 4. Webhooks: question, budget and paused arrived, each signed with the secret printed once.
    const types = () => hooks.received.map((r) => (JSON.parse(r.body) as { type: string }).type);
    await waitForE2E(e2e, "the question, budget and paused webhooks", () => ["question", "budget", "paused"].every((t) => types().includes(t)));
    const key = Buffer.from(hook.secret.replace(/^whsec_/, ""), "base64");
    for (const r of hooks.received) {
      const id = r.headers["webhook-id"] as string;
      const timestamp = r.headers["webhook-timestamp"] as string;
      const expected = "v1," + createHmac("sha256", key).update(`${id}.${timestamp}.${r.body}`).digest("base64");
      assert.equal(r.headers["webhook-signature"], expected, `the ${JSON.parse(r.body).type} webhook is signed`);
    }
    const asked = hooks.received.map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> }).find((m) => m.type === "question")!;
    assert.equal(asked.data.question, "Which color?");
    const pausedHook = hooks.received.map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> }).find((m) => m.type === "paused")!;
    assert.equal(pausedHook.data.reason, "Budget reached: it cost $1.2 of its $1 budget.", "the paused event says why");
  });
});

type PlanReview = {
  proposal: { status: string } | null;
  changes: { change: string; name: string; dependsOnNames: string[] | null }[];
};
