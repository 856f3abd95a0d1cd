/*
 * `baton webhook` through the real binary against a real server: what it accepts and prints (add shows
 * the secret once, list never shows it, remove, deliveries), and the bad input it refuses, each with
 * exactly one line on stderr saying what was wrong and what the known values are, changing nothing.
 * The same checks hold in SQL for other clients (GraphQL).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { post, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { cli } from "../helpers/e2e";
import { assertUnchanged, snapshot } from "../helpers/snapshot";
import { makeFixture, removeFixture, type Fixture } from "./support";

const db = useTestDatabase();
const EXAMPLE = " For example https://example.com/hooks/baton.";
const KNOWN = "The events are idle, failed, paused, question, budget.";

describe("baton webhook", () => {
  const server = useTestServer(db, { worker: false });
  let f: Fixture;
  before(async () => {
    f = await makeFixture(db, server);
  });
  after(() => removeFixture(f));

  const refusals: { name: string; args: () => string[]; exit: 1 | 2; stderr: string }[] = [
    { name: "a file: URL", args: () => ["webhook", "add", "file:///etc/passwd", "--events", "idle"], exit: 2, stderr: `A webhook URL must use http or https (got "file:").${EXAMPLE}` },
    { name: "a gopher: URL", args: () => ["webhook", "add", "gopher://127.0.0.1:6379/_x", "--events", "idle"], exit: 2, stderr: `A webhook URL must use http or https (got "gopher:").${EXAMPLE}` },
    { name: "a URL without a scheme", args: () => ["webhook", "add", "example.com/hook", "--events", "idle"], exit: 2, stderr: `A webhook URL must be an http or https URL (got "example.com/hook").${EXAMPLE}` },
    {
      name: "a URL with credentials",
      args: () => ["webhook", "add", "https://user:pw@example.com/hook", "--events", "idle"],
      exit: 2,
      stderr: `A webhook URL must be http(s)://host[:port][/path], without spaces, credentials or more than 2048 characters (got "https://user:pw@example.com/hook").${EXAMPLE}`,
    },
    { name: "unknown events", args: () => ["webhook", "add", "https://example.com/h", "--events", "idle,done,exploded"], exit: 2, stderr: `Unknown webhook events: done, exploded. ${KNOWN}` },
    { name: "no events", args: () => ["webhook", "add", "https://example.com/h", "--events", ","], exit: 2, stderr: "--events needs at least one event; the events are idle, failed, paused, question, budget." },
    { name: "a webhook id that is not a UUID", args: () => ["webhook", "remove", "nope"], exit: 2, stderr: 'The webhook id must be a UUID such as 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f (got "nope"); `baton directive status` lists the ids.' },
    {
      name: "an unknown webhook",
      args: () => ["webhook", "remove", "00000000-0000-4000-8000-000000000000"],
      exit: 1,
      stderr: "Webhook 00000000-0000-4000-8000-000000000000 does not exist. List your webhooks with `baton webhook list`.",
    },
    { name: "a bad --limit", args: () => ["webhook", "deliveries", "--limit", "0"], exit: 2, stderr: '--limit must be a whole number from 1 to 1000 (got "0").' },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name} (exit ${c.exit}), changing nothing`, async () => {
      const before = await snapshot(db);
      const r = await cli(c.args(), { env: f.env });
      assert.equal(r.code, c.exit, `exit ${r.code}; stderr: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, `baton: ${c.stderr}\n`);
      await assertUnchanged(db, before, c.name);
    });
  }

  it("the API refuses the same input with the same words (BTINV)", async () => {
    const add = (url: string, events: string[]) =>
      post(server, "mutation ($u: String!, $e: [String]!) { addWebhook(input: { url: $u, events: $e }) { result { rowId } } }", { u: url, e: events }, f.owner);
    const bad = [
      [await add("ftp://example.com/x", ["idle"]), `A webhook URL must use http or https (got "ftp:").${EXAMPLE}`],
      [await add("https://example.com/x", ["idle", "nope"]), `Unknown webhook event: nope. ${KNOWN}`],
      [await add("https://example.com/x", []), "A webhook needs at least one event; the events are idle, failed, paused, question, budget. For example --events idle,failed."],
    ] as const;
    for (const [r, message] of bad) {
      assert.equal(r.errors?.[0]?.message, message);
      assert.equal(r.errors?.[0]?.extensions?.code, "BTINV");
    }
  });

  it("adds (printing the secret once), lists without the secret, shows deliveries, removes; at most 20 per owner", async () => {
    const added = await cli(["webhook", "add", "https://example.com/hooks/baton", "--events", "failed, IDLE"], { env: f.env });
    assert.equal(added.code, 0, added.stderr);
    const [first, second] = added.stdout.trim().split("\n");
    const id = /^Webhook ([0-9a-f-]{36}) POSTs idle, failed to https:\/\/example\.com\/hooks\/baton\.$/.exec(first!)?.[1];
    assert.ok(id, first);
    assert.match(second!, /^Secret \(shown only now; verify webhook-signature with it\): whsec_[A-Za-z0-9+/]{43}=$/);

    const listed = JSON.parse((await cli(["webhook", "list", "--json"], { env: f.env })).stdout);
    assert.deepEqual(listed.map((w: { rowId: string; events: string[] }) => [w.rowId, w.events]), [[id, ["idle", "failed"]]]);
    assert.ok(!JSON.stringify(listed).includes("whsec_"), "list never shows the secret");

    await db.pool.query("select baton_private.record_webhook_delivery($1, 'msg_1', 'idle', 1, null, 'No answer within 10 s.', 10000)", [id]);
    const deliveries = await cli(["webhook", "deliveries", id!], { env: f.env });
    assert.match(deliveries.stdout, /^\S+ {2}idle {6}attempt 1 {2}failed: No answer within 10 s\. {2}[0-9a-f-]{36}\n$/);

    for (let i = 1; i < 20; i++) await db.pool.query("select baton.add_webhook($1, '{idle}', owner_id => $2)", [`https://example.com/${i}`, f.ownerA]);
    const full = await cli(["webhook", "add", "https://example.com/21", "--events", "idle"], { env: f.env });
    assert.equal(full.code, 1);
    assert.equal(full.stderr, "baton: You have 20 webhooks, the most one owner may have. Remove one with `baton webhook remove ID` (see `baton webhook list`).\n");

    const removed = await cli(["webhook", "remove", id!], { env: f.env });
    assert.equal(removed.stdout, `Webhook ${id} (https://example.com/hooks/baton) is removed.\n`);
    assert.equal((await db.pool.query("select count(*)::int as n from baton.webhook_deliveries where webhook_id = $1", [id])).rows[0].n, 0);
  });
});
