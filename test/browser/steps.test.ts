/*
 * A step in the dashboard, in Debian's headless chromium against a real server and daemon: open the
 * step from its node (with the keyboard), watch its attempt's output arrive live (backfill, then
 * stream), see both attempts fail with their error, retry the failed step from the page, and see the
 * third attempt complete it; then update the goal from the page. The agent waits for the test's go-ahead files, so every wait is on what
 * the page shows.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { cliJson, startDaemon, startServer, useE2E, writeAgent, type ServerProcess } from "../helpers/e2e";

const CHROMIUM = process.env.BATON_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const SHOTS = path.join(__dirname, "..", "..", "docs", "screenshots");
const e2e = useE2E();

describe("a step in Chromium", { skip: fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)` }, () => {
  let browser: Browser;
  let server: ServerProcess;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 60_000 });
    server = await startServer(e2e);
  });
  after(async () => {
    await browser?.close();
  });

  it("streams an attempt's output, shows the failed attempts' errors, and retries the failed step", async () => {
    const marks = e2e.tempDir("marks");
    // Attempt N prints a line, waits for go-N, prints another, waits for end-N (so the page, which
    // follows the newest attempt, is not moved on to the next one before the test saw the line);
    // attempts 1 and 2 then fail, 3 succeeds.
    const agent = writeAgent(
      e2e,
      `#!/bin/sh
if [ "$BATON_TASK_KIND" = planning ]; then
  exec baton directive batch-add-steps --json '[{"name": "Build"}]'
fi
n=$(( $(cat "$E2E_MARKS/count" 2>/dev/null || echo 0) + 1 ))
echo $n > "$E2E_MARKS/count"
echo "attempt $n: compiling"
while [ ! -f "$E2E_MARKS/go-$n" ]; do sleep 0.1; done
echo "attempt $n: linking"
while [ ! -f "$E2E_MARKS/end-$n" ]; do sleep 0.1; done
if [ $n -le 2 ]; then echo "attempt $n: the linker failed" >&2; exit 1; fi
exit 0
`,
    );
    await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 1, env: { E2E_MARKS: marks } });
    const directive = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Build it", "--goal", "Build the project", "--start"], { env: server.env });

    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(fs.readFileSync(path.join(server.dataDir, "signin-link"), "utf8").trim());
    await page.getByTestId("owner-name").waitFor();
    await page.goto(`${server.url}/directives/${directive.rowId}`);

    // Open the step with the keyboard: focus its node, press Enter.
    const node = page.locator('g.dag-node[data-step="Build"][data-status="running"]');
    await node.waitFor();
    await node.focus();
    await page.keyboard.press("Enter");
    const output = page.getByTestId("task-output");
    await output.filter({ hasText: "attempt 1: compiling" }).waitFor();
    fs.writeFileSync(path.join(marks, "go-1"), "");
    await output.filter({ hasText: "attempt 1: linking" }).waitFor(); // streamed while the page was open
    fs.writeFileSync(path.join(marks, "end-1"), "");

    // Attempt 1 fails; attempt 2 starts by itself and is followed (the newest attempt is shown).
    await page.getByRole("tab", { name: "Attempt 1: failed" }).waitFor();
    await output.filter({ hasText: "attempt 2: compiling" }).waitFor();
    fs.writeFileSync(path.join(marks, "go-2"), "");
    fs.writeFileSync(path.join(marks, "end-2"), "");
    await page.locator('g.dag-node[data-step="Build"][data-status="failed"]').waitFor();
    await page.getByRole("tab", { name: "Attempt 2: failed" }).click();
    await output.filter({ hasText: "attempt 2: the linker failed" }).waitFor();
    assert.equal(await page.getByTestId("attempt-error").textContent(), "The agent exited with status 1:\nattempt 2: the linker failed");
    await page.screenshot({ path: path.join(SHOTS, "step-failed.png"), fullPage: true });

    await page.getByRole("button", { name: "Retry" }).click();
    await output.filter({ hasText: "attempt 3: compiling" }).waitFor();
    fs.writeFileSync(path.join(marks, "go-3"), "");
    fs.writeFileSync(path.join(marks, "end-3"), "");
    await page.locator('g.dag-node[data-step="Build"][data-status="completed"]').waitFor();
    await page.getByRole("tab", { name: "Attempt 3: completed" }).waitFor();
    await page.locator(".page-head .badge", { hasText: /^idle$/ }).first().waitFor();
    assert.equal(await page.getByRole("tab").count(), 3);

    // A new goal from the page: revision 2, which the planner takes up again.
    await page.getByText("Update the goal").click();
    await page.getByLabel("New goal").fill("Build the project, and package it");
    await page.getByRole("button", { name: "Update goal" }).click();
    await page.locator("pre.goal", { hasText: "Build the project, and package it" }).waitFor();
    await page.locator("dl.facts").filter({ hasText: /Goal revision\s*2/ }).waitFor();
    await context.close();
  });
});
