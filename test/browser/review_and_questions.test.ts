/*
 * Plan review and questions in the dashboard, in Debian's headless chromium against a real server and
 * a real daemon (labelled gpu and linux) whose scripted agent plans "Choose a color" -> "Paint the
 * fence": "Choose a color" runs `baton ask "Which color?" --choice blue --choice red`, and "Paint the
 * fence" `baton ask "Any notes for the painter?"`:
 *   - a directive created on the page with "Review plans" waits with its plan as a proposal: the page
 *     shows the diff (+ added, with dependencies) and nothing is dispatched;
 *   - Reject needs a reason (an empty one gets the API's refusal on the page); rejected with one, the directive is
 *     planned again and the new proposal shows; Approve applies it and its steps run;
 *   - the agent's question shows on the directive page and, with its count, on the Directives list;
 *     clicking a choice answers it and the agent receives the answer (writes it to a file); the next
 *     step asks without choices, answered in a labelled text box on the Directives list; the
 *     directive goes idle;
 *   - the Daemons page shows the daemon's labels.
 * Every wait is on a selector or a condition (no sleeps). Screenshots: docs/screenshots/plan-review.png
 * and question.png (the README shows them).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { startDaemon, startServer, useE2E, waitForE2E, writeAgent, type ServerProcess } from "../helpers/e2e";

const CHROMIUM = process.env.BATON_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const SHOTS = path.join(__dirname, "..", "..", "docs", "screenshots");
const e2e = useE2E();

// Plans name the planning round (the second plan, after the rejection, names its first step differently).
const AGENT = String.raw`
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const marks = process.env.E2E_MARKS;
const prompt = fs.readFileSync(0, "utf8");
if (process.env.BATON_TASK_KIND === "planning") {
  const round = fs.existsSync(path.join(marks, "planned")) ? 2 : 1;
  fs.writeFileSync(path.join(marks, "planned"), String(round));
  const steps = round === 1
    ? [{ key: "paint", name: "Paint the fence" }]
    : [{ key: "choose", name: "Choose a color" }, { key: "paint", name: "Paint the fence", dependsOn: ["choose"] }];
  execFileSync("baton", ["directive", "batch-add-steps", "--json", JSON.stringify(steps)], { stdio: "inherit" });
  process.exit(0);
}
const step = /^# Your step: (.+)$/m.exec(prompt)[1];
if (step === "Choose a color") {
  const answer = execFileSync("baton", ["ask", "Which color?", "--choice", "blue", "--choice", "red"], { encoding: "utf8" }).trim();
  fs.writeFileSync(path.join(marks, "color"), answer);
  console.log("the owner chose " + answer);
}
if (step === "Paint the fence") {
  const notes = execFileSync("baton", ["ask", "Any notes for the painter?"], { encoding: "utf8" }).trim();
  fs.writeFileSync(path.join(marks, "notes"), notes);
}
`;

describe("plan review and questions in Chromium", { skip: fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)` }, () => {
  let browser: Browser;
  let server: ServerProcess;
  before(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 60_000 });
    server = await startServer(e2e);
  });
  after(async () => {
    await browser?.close();
  });

  it("reviews the plan on the page, answers the agent's question by a choice, and shows the daemon's labels", async () => {
    const marks = e2e.tempDir("marks");
    await startDaemon(e2e, server, { agentCommand: writeAgent(e2e, AGENT, "agent.js"), maxTasks: 2, env: { E2E_MARKS: marks }, args: ["--label", "gpu", "--label", "linux"] });
    const db = e2e.db.pool;

    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await page.goto(fs.readFileSync(path.join(server.dataDir, "signin-link"), "utf8").trim());
    await page.getByTestId("owner-name").waitFor();

    // Create it with "Review plans": a draft, set to review, then started.
    await page.getByRole("link", { name: "New directive" }).first().click();
    await page.getByLabel("Title").fill("Garden fence");
    await page.getByLabel("Goal").fill("Paint the garden fence in a colour the owner picks.");
    await page.getByLabel("Review plans").check();
    await page.getByRole("button", { name: "Create directive" }).click();
    await page.getByRole("heading", { name: "Garden fence", level: 1 }).waitFor();
    const id = new URL(page.url()).pathname.split("/").pop()!;
    const row = await db.query<{ review_plans: boolean; status: string }>("select review_plans, status from baton.directives where id = $1", [id]);
    assert.equal(row.rows[0]!.review_plans, true);
    assert.notEqual(row.rows[0]!.status, "draft", "started after review was set");

    // The first plan waits as a proposal: one added step, nothing dispatched.
    const review = page.getByTestId("plan-review");
    await page.locator('[data-testid="plan-review"][data-proposal-status="proposed"]').waitFor();
    assert.equal(await page.getByTestId("plan-summary").textContent(), "1 added, 0 removed, 0 re-wired, 0 kept. Nothing of it runs until you approve it.");
    await page.getByTestId("plan-waiting").filter({ hasText: "plan waiting for review" }).waitFor(); // beside the status
    const first = await review.getAttribute("data-proposal");
    assert.equal((await db.query("select count(*)::int as n from baton.tasks where directive_id = $1 and kind = 'execution'", [id])).rows[0].n, 0);

    // Reject: a reason is required; with one, the directive is planned again.
    await page.getByRole("button", { name: "Reject plan…" }).click();
    await page.getByRole("button", { name: "Reject the plan" }).click();
    const refused = review.getByRole("alert");
    await refused.waitFor(); // the API's own message
    assert.equal(await refused.textContent(), 'Give a reason for rejecting the plan: the planner reads it when it plans again. baton directive plan reject --reason "..."');
    await page.getByLabel("Why do you reject it?").fill("Ask me for the colour first.");
    await page.getByRole("button", { name: "Reject the plan" }).click();
    await page.locator(`[data-testid="plan-review"][data-proposal-status="proposed"]:not([data-proposal="${first}"])`).waitFor();
    const rejected = await db.query<{ status: string; reason: string }>("select status, reason from baton.plan_proposals where id = $1", [first]);
    assert.deepEqual(rejected.rows[0], { status: "rejected", reason: "Ask me for the colour first." });

    // The second proposal: two added steps, the fence depending on the colour.
    assert.equal(await page.getByTestId("plan-summary").textContent(), "2 added, 0 removed, 0 re-wired, 0 kept. Nothing of it runs until you approve it.");
    const items = page.locator(".plan-diff li");
    assert.deepEqual(await items.evaluateAll((els) => els.map((e) => [e.getAttribute("data-change"), e.getAttribute("data-step")])), [
      ["added", "Choose a color"],
      ["added", "Paint the fence"],
    ]);
    assert.match((await items.nth(1).textContent()) ?? "", /^\+ Paint the fence \([0-9a-f]{8}\) addeddepends on Choose a color \([0-9a-f]{8}\)$/);
    assert.equal(await page.locator("g.dag-node").count(), 0, "nothing of the proposal is in the live plan");
    await page.screenshot({ path: path.join(SHOTS, "plan-review.png"), fullPage: true });

    // Approve: applied at once; the first step runs and its agent asks.
    await page.getByRole("button", { name: "Approve plan" }).click();
    await page.locator('g.dag-node[data-step="Choose a color"]').waitFor();
    await review.waitFor({ state: "detached" });
    await page.getByTestId("plan-waiting").waitFor({ state: "detached" });
    const questions = page.getByTestId("questions");
    await questions.getByText("Which color?").waitFor();
    assert.match((await questions.textContent()) ?? "", /Open questions \(1\)/);
    await page.locator('g.dag-node[data-step="Choose a color"][data-status="running"]').waitFor();
    await page.screenshot({ path: path.join(SHOTS, "question.png"), fullPage: true });

    // The Directives list counts it and shows it with its answer box too.
    await page.getByRole("link", { name: "← Directives" }).click();
    const listed = page.locator("tr", { hasText: "Garden fence" });
    await listed.getByTestId("open-questions").filter({ hasText: "1 open" }).waitFor();
    assert.equal(await listed.getByTestId("cost").textContent(), "$0.00 (no budget)");
    await page.getByTestId("questions").getByRole("link", { name: "Garden fence" }).waitFor();

    // Answer it by its choice on the directive page: the agent gets "blue" and goes on.
    await page.getByRole("link", { name: "Garden fence" }).first().click();
    await page.getByRole("group", { name: "Answers to: Which color?" }).getByRole("button", { name: "blue" }).click();
    await waitForE2E(e2e, "the agent to write the answer", () => fs.existsSync(path.join(marks, "color")));
    assert.equal(fs.readFileSync(path.join(marks, "color"), "utf8"), "blue");
    await page.locator('g.dag-node[data-step="Choose a color"][data-status="completed"]').waitFor();

    // The next step asks without choices: answered in a labelled text box, here on the Directives list.
    await questions.getByText("Any notes for the painter?").waitFor();
    assert.equal(await questions.getByText("Which color?").count(), 0, "the answered question left the list");
    await page.getByRole("link", { name: "← Directives" }).click();
    await page.getByTestId("questions").getByText("Any notes for the painter?").waitFor();
    await page.getByLabel("Your answer").fill("Two coats, please.");
    await page.getByRole("button", { name: "Answer" }).click();
    await waitForE2E(e2e, "the agent to write the notes", () => fs.existsSync(path.join(marks, "notes")));
    assert.equal(fs.readFileSync(path.join(marks, "notes"), "utf8"), "Two coats, please.");
    const done = page.locator("tr", { hasText: "Garden fence" });
    await done.locator(".badge", { hasText: /^idle$/ }).waitFor();
    await done.getByTestId("open-questions").filter({ hasText: "none" }).waitFor();
    await page.getByTestId("questions").waitFor({ state: "detached" });
    assert.match((await done.textContent()) ?? "", /2\/2/);

    await page.getByRole("link", { name: "Garden fence" }).click();
    await page.locator('g.dag-node[data-step="Paint the fence"][data-status="completed"]').waitFor();
    assert.equal(await page.getByTestId("plan-none").textContent(), "No plan is waiting for review. Last plan: approved.");

    // The daemon's labels.
    await page.getByRole("link", { name: "Daemons" }).click();
    const labels = page.locator("tr[data-daemon]").first().getByTestId("daemon-labels");
    await labels.filter({ hasText: "gpu" }).waitFor();
    assert.deepEqual(await labels.locator("li").allTextContents(), ["gpu", "linux"]);
    assert.deepEqual(pageErrors, []);
    await context.close();
  });
});
