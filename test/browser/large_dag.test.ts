/*
 * A 2,000-step directive in the dashboard (issue 13: "a 2,000-step directive stays responsive"): the
 * time from opening its page to every node drawn, and how long the page takes to answer a script while
 * ELK lays the graph out (it runs in a Web Worker, so the page's thread stays free). The times are
 * printed, not asserted (as the benchmarks do); the test asserts that all 2,000 nodes and their edges
 * are drawn and that the page answered while they were laid out and drawn (in batches).
 *
 * A real server, the CLI for the directive (a draft, so nothing runs), Debian's chromium.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { cliJson, startServer, useE2E, type ServerProcess } from "../helpers/e2e";

const CHROMIUM = process.env.BATON_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const LAYERS = 40;
const WIDTH = 50; // 40 layers of 50: 2,000 steps
const e2e = useE2E();

/** Each step after the first layer depends on one or two steps of the layer before it. */
function plan(): { steps: { key: string; name: string; dependsOn?: string[] }[]; edges: number } {
  const steps: { key: string; name: string; dependsOn?: string[] }[] = [];
  let edges = 0;
  for (let layer = 0; layer < LAYERS; layer++) {
    for (let i = 0; i < WIDTH; i++) {
      const key = `s${layer}-${i}`;
      if (layer === 0) {
        steps.push({ key, name: `Step ${layer}.${i}` });
        continue;
      }
      const deps = [...new Set([`s${layer - 1}-${i}`, `s${layer - 1}-${(i * 7 + 3) % WIDTH}`])];
      edges += deps.length;
      steps.push({ key, name: `Step ${layer}.${i}`, dependsOn: deps });
    }
  }
  return { steps, edges };
}

describe("a 2,000-step directive in Chromium", { skip: fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)` }, () => {
  let browser: Browser;
  let server: ServerProcess;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 60_000 });
    server = await startServer(e2e);
  });
  after(async () => {
    await browser?.close();
  });

  it("draws every node and edge, and the page answers while ELK lays it out", async () => {
    const { steps, edges } = plan();
    const directive = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Two thousand steps", "--goal", "Measure the dashboard"], { env: server.env });
    const file = path.join(e2e.tempDir("plan"), "plan.json");
    fs.writeFileSync(file, JSON.stringify(steps));
    await cliJson(["directive", "batch-add-steps", "--directive", directive.rowId, "--file", file, "--json"], { env: server.env, timeoutMs: 120_000 });

    const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    const page = await context.newPage();
    page.setDefaultTimeout(120_000);
    await page.goto(fs.readFileSync(path.join(server.dataDir, "signin-link"), "utf8").trim());
    await page.getByTestId("owner-name").waitFor();

    const started = Date.now();
    await page.goto(`${server.url}/directives/${directive.rowId}`);
    await page.getByText(`Laying out ${steps.length} steps…`).waitFor();
    // While the worker lays out the graph and the page draws it in batches, the page's thread answers.
    const probes: number[] = [];
    for (;;) {
      const t = Date.now();
      const count = await page.evaluate(() => document.querySelectorAll("g.dag-node").length);
      probes.push(Date.now() - t);
      if (count === steps.length) break;
    }
    const drawn = Date.now() - started;
    assert.equal(await page.locator("g.dag-node").count(), steps.length);
    assert.equal(await page.locator("polyline.dag-edge").count(), edges);
    assert.ok(probes.length > 0, "the page answered during the layout");
    const worst = Math.max(...probes);
    // The page's own marks (DagView): when the layout started and ended, and when its nodes were drawn.
    const marks = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType("mark").filter((m) => m.name.startsWith("baton:")).map((m) => [m.name.slice(6), Math.round(m.startTime)])));
    const spent = `data fetched at ${marks["dag-layout-start"]} ms, ELK layout ${marks["dag-layout-end"]! - marks["dag-layout-start"]!} ms, drawing ${marks["dag-drawn"]! - marks["dag-layout-end"]!} ms`;
    process.stdout.write(`# 2,000-step DAG (${edges} edges): page opened to every node drawn in ${drawn} ms (${spent}); the page answered ${probes.length} probes meanwhile, the slowest in ${worst} ms\n`);
    await context.close();
  });
});
