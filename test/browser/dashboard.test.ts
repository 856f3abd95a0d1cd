/*
 * The web dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against a real `baton server` and a real `baton daemon run` with a scripted agent:
 *   - the sign-in link the server wrote signs in once; opened again it shows why it fails;
 *   - a directive created on the page is planned and run, and its DAG (laid out by elkjs) follows it
 *     live, step statuses and all, until the directive is idle; the list shows it done;
 *   - a second owner, signed in with a link from `baton web link --token`, sees none of it;
 *   - the daemons page lists the daemon.
 * Every wait is on a selector or text (no sleeps). Screenshots go to docs/screenshots/ (the README
 * shows them). A page that breaks its Content-Security-Policy fails the test (console errors).
 *
 * Needs /usr/bin/chromium (BATON_CHROMIUM names another); .ci/run installs it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { mintOwnerToken } from "../../src/auth/mint";
import { cli, cliJson, startDaemon, startServer, useE2E, writeAgent, type ServerProcess } from "../helpers/e2e";

const CHROMIUM = process.env.BATON_CHROMIUM || "/usr/bin/chromium";
// docs/STACK.md: without the background-networking flags Chromium floods the closed network.
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const SHOTS = path.join(__dirname, "..", "..", "docs", "screenshots");
const TIMEOUT = 60_000;

const e2e = useE2E();

describe("the web dashboard in Chromium", { skip: fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)` }, () => {
  let browser: Browser;
  let server: ServerProcess;
  let owner: { context: BrowserContext; page: Page };
  const consoleErrors: string[] = [];

  before(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: TIMEOUT });
    server = await startServer(e2e);
  });
  after(async () => {
    await browser?.close();
  });

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    page.on("pageerror", (err) => consoleErrors.push(err.message));
    return { context, page };
  }

  it("signs in with the server's one-time link, and the link fails a second time", async () => {
    const link = fs.readFileSync(path.join(server.dataDir, "signin-link"), "utf8").trim();
    assert.match(link, /\/signin#code=/);
    owner = await newPage();
    await owner.page.goto(link);
    await owner.page.getByTestId("owner-name").filter({ hasText: "local" }).waitFor();
    assert.equal(new URL(owner.page.url()).pathname, "/");
    assert.equal(new URL(owner.page.url()).hash, "", "the code left the address bar");
    await owner.page.getByTestId("no-directives").waitFor();
    const cookies = await owner.context.cookies();
    const session = cookies.find((c) => c.name === "baton_session");
    assert.ok(session, "the session cookie is set");
    assert.deepEqual([session.httpOnly, session.sameSite, session.path], [true, "Strict", "/"]);
    assert.equal(await owner.page.evaluate(() => document.cookie), "", "scripts cannot read the session");

    const again = await newPage();
    await again.page.goto(link);
    const message = again.page.getByTestId("signin-message");
    await message.filter({ hasText: "already used" }).waitFor();
    assert.match((await message.textContent()) ?? "", /^This sign-in link was already used \(at .* UTC\)\. A link signs in once: run `baton web link` for a new one\.$/);
    await again.page.screenshot({ path: path.join(SHOTS, "signin-used.png") });
    await again.page.goto("/".replace(/^/, server.url));
    await again.page.getByTestId("signed-out").waitFor();
    await again.context.close();
  });

  it("creates a directive on the page and watches its DAG go from planning to idle, live", async () => {
    const marks = e2e.tempDir("marks");
    // The planner adds a diamond of steps; each executor waits for the test's go-ahead file.
    const agent = writeAgent(
      e2e,
      `#!/bin/sh
if [ "$BATON_TASK_KIND" = planning ]; then
  exec baton directive batch-add-steps --json '[{"key":"schema","name":"Schema"},{"key":"api","name":"API","dependsOn":["schema"]},{"key":"ui","name":"UI","dependsOn":["schema"]},{"name":"Docs","dependsOn":["api","ui"]}]'
fi
while [ ! -f "$E2E_MARKS/go" ]; do sleep 0.1; done
exit 0
`,
    );
    const { page } = owner;
    await page.getByRole("link", { name: "New directive" }).first().click();
    await page.getByLabel("Title").fill("Add a settings page");
    await page.getByLabel("Goal").fill("Users can change their e-mail address and password on a settings page.");
    await page.getByLabel("Budget in USD").fill("5");
    await page.getByRole("button", { name: "Create directive" }).click();
    await page.getByRole("heading", { name: "Add a settings page" }).waitFor();
    assert.match(new URL(page.url()).pathname, /^\/directives\/[0-9a-f-]{36}$/);
    const facts = page.locator("dl.facts");
    await facts.filter({ hasText: "$0.00 of $5.00" }).waitFor(); // created as a draft, budgeted, then started
    // No daemon yet: the planning task waits, and the page says so.
    await page.getByTestId("planning").filter({ hasText: "planning (pending)" }).waitFor();
    await page.getByText("No steps yet.").waitFor();
    await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, env: { E2E_MARKS: marks } });

    // The plan arrives over the directive's event feed: four nodes, the first one running.
    await page.locator('g.dag-node[data-step="Schema"][data-status="running"]').waitFor();
    assert.equal(await page.locator("g.dag-node").count(), 4);
    assert.equal(await page.locator('g.dag-node[data-step="Docs"]').getAttribute("data-status"), "pending");
    const edges = await page.locator("polyline.dag-edge").count();
    assert.equal(edges, 4, "schema->api, schema->ui, api->docs, ui->docs");
    // Laid out by ELK in layers, left to right: Docs is right of API and UI, which are right of Schema.
    const x = async (name: string) => (await page.locator(`g.dag-node[data-step="${name}"]`).boundingBox())!.x;
    const [schema, api, ui, docs] = [await x("Schema"), await x("API"), await x("UI"), await x("Docs")];
    assert.ok(schema < api && api === ui && ui < docs, JSON.stringify({ schema, api, ui, docs }));
    await page.screenshot({ path: path.join(SHOTS, "directive-running.png"), fullPage: true });

    fs.writeFileSync(path.join(marks, "go"), "go\n");
    await page.locator(".page-head .badge", { hasText: /^idle$/ }).waitFor();
    await page.locator('g.dag-node[data-step="Docs"][data-status="completed"]').waitFor();
    assert.equal(await page.locator('g.dag-node[data-status="completed"]').count(), 4);
    await page.screenshot({ path: path.join(SHOTS, "directive.png"), fullPage: true });

    // A refused action shows the API's own message: the same words the CLI prints.
    const id = new URL(page.url()).pathname.split("/").pop()!;
    const cliRefusal = await cli(["directive", "start", "--directive", id], { env: server.env });
    assert.equal(cliRefusal.code, 1);
    await page.getByRole("button", { name: "Start" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.equal(`baton: ${await alert.textContent()}\n`, cliRefusal.stderr);
    await page.getByRole("button", { name: "Pause" }).click();
    await page.locator(".page-head .badge", { hasText: /^paused$/ }).waitFor();
    assert.equal(await alert.count(), 0, "a successful action clears the last error");
    await page.getByRole("button", { name: "Start" }).click();
    await page.locator(".page-head .badge", { hasText: /^idle$/ }).waitFor(); // resumed, nothing left to run

    await page.getByRole("link", { name: "← Directives" }).click();
    const row = page.locator("tr", { hasText: "Add a settings page" });
    await row.locator(".badge", { hasText: /^idle$/ }).waitFor();
    assert.match((await row.textContent()) ?? "", /4\/4/);
    await page.screenshot({ path: path.join(SHOTS, "directives.png"), fullPage: true });

    await page.getByRole("link", { name: "Daemons" }).click();
    await page.locator("tr[data-daemon]").first().waitFor();
    assert.match((await page.locator("tr[data-daemon]").first().textContent()) ?? "", /connected/);
    await page.screenshot({ path: path.join(SHOTS, "daemons.png"), fullPage: true });
  });

  it("shows a banner while the server is away, and reconnects when it is back", async () => {
    const { page } = owner;
    await page.getByRole("link", { name: "Directives" }).first().click();
    await page.locator("tr", { hasText: "Add a settings page" }).waitFor();
    await server.stop();
    const banner = page.getByRole("status").filter({ hasText: "The live connection to the Baton server was lost. Reconnecting…" });
    await banner.waitFor();
    await page.screenshot({ path: path.join(SHOTS, "connection-lost.png") });
    await server.restart();
    await banner.waitFor({ state: "detached" });
    await page.locator("tr", { hasText: "Add a settings page" }).waitFor();
  });

  it("a second owner's session (a link from `baton web link --token`) sees none of the first owner's directives", async () => {
    const { rows } = await e2e.db.pool.query<{ id: string }>("select id from baton.create_owner('second')");
    const secret = fs.readFileSync(path.join(server.dataDir, "jwt-secret"), "utf8").trim();
    const token = (await mintOwnerToken(e2e.db.pool, rows[0]!.id, secret)).token;
    const link = await cliJson<{ url: string; expires_at: string }>(["web", "link", "--token", token], { env: server.env });
    assert.match(link.url, new RegExp(`^${server.url}/signin#code=[A-Za-z0-9_-]{43}$`));
    const own = await cli(["web", "link"], { env: server.env }); // the local owner's, from credentials.json
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, new RegExp(`^${server.url}/signin#code=[A-Za-z0-9_-]{43}\\n\\(works once, until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\n$`));
    const second = await newPage();
    await second.page.goto(link.url);
    await second.page.getByTestId("owner-name").filter({ hasText: "second" }).waitFor();
    await second.page.getByTestId("no-directives").waitFor();
    const first = await e2e.db.pool.query<{ id: string }>("select id from baton.directives where title = 'Add a settings page'");
    await second.page.goto(`${server.url}/directives/${first.rows[0]!.id}`);
    await second.page.getByRole("heading", { name: "Directive not found" }).waitFor();
    await second.context.close();
  });

  it("broke no Content-Security-Policy rule and threw no error in the page", () => {
    // Expected: the 401 of /auth/session when signed out, and refused reconnections while the server was stopped.
    const expected = /Failed to load resource: the server responded with a status of 401|net::ERR_CONNECTION_REFUSED/;
    assert.deepEqual(consoleErrors.filter((m) => !expected.test(m)), []);
  });
});
