/*
 * Webhooks (issue 12 point 5) against a real local HTTP receiver: a directive driven to idle, a step
 * that fails for good and a pause each reach the receiver as a POST signed the Standard Webhooks way
 * (the signature is recomputed here with node:crypto, from the secret addWebhook printed); a receiver
 * that answers 500 gets the same message again (same webhook-id and body) after graphile-worker's
 * backoff, and every attempt's outcome is in baton.webhook_deliveries.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { useTestDatabase } from "../helpers/db";
import { createDirective, createOwner } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { createTestWorker } from "../helpers/worker";

const db = useTestDatabase();

type Received = { headers: http.IncomingHttpHeaders; body: string; answered: number };

/** A receiver on 127.0.0.1 that answers each request with the next status of `statuses` (then 200). */
function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const answered = statuses.shift() ?? 200;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), answered });
      res.writeHead(answered, { "content-type": "text/plain" }).end("ignored");
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

/** The Standard Webhooks check, written from the spec rather than from src/. */
function verify(secret: string, r: Received): void {
  assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  assert.equal(key.length, 32);
  const id = String(r.headers["webhook-id"]);
  const ts = String(r.headers["webhook-timestamp"]);
  assert.match(ts, /^\d+$/);
  assert.ok(Math.abs(Date.now() / 1000 - Number(ts)) < 300, "the timestamp is now");
  const expected = createHmac("sha256", key).update(`${id}.${ts}.${r.body}`).digest("base64");
  const signatures = String(r.headers["webhook-signature"]).split(" ");
  assert.ok(signatures.includes(`v1,${expected}`), `signature ${r.headers["webhook-signature"]} matches v1,${expected}`);
  assert.equal(r.headers["content-type"], "application/json");
}

async function addWebhook(ownerId: string, url: string, events: string[]): Promise<{ id: string; secret: string }> {
  return (await db.pool.query("select id, secret from baton.add_webhook($1, $2, owner_id => $3)", [url, events, ownerId])).rows[0];
}

describe("webhooks", () => {
  const ok = receiver();
  const flaky = receiver([500]);
  let okUrl = "";
  let flakyUrl = "";
  let worker: Awaited<ReturnType<typeof createTestWorker>> | undefined;
  before(async () => {
    okUrl = await ok.start();
    flakyUrl = await flaky.start();
    worker = await createTestWorker(db);
  });
  after(async () => {
    await worker?.stop();
    await ok.close();
    await flaky.close();
  });

  it("a directive that goes idle is POSTed to the webhook, signed (Standard Webhooks)", async () => {
    const owner = await createOwner(db, "hooks-idle");
    const hook = await addWebhook(owner, okUrl, ["idle"]);
    const d = await createDirective(db, owner, { title: "Ship it", steps: [{ name: "only" }] });
    await db.pool.query("select baton.complete_step($1)", [d.steps.only]);
    const r = await waitFor(() => ok.received.find((x) => JSON.parse(x.body).data.directive_id === d.id), { what: "the idle webhook" });
    verify(hook.secret, r);
    assert.match(String(r.headers["webhook-id"]), /^msg_[0-9a-f]{32}$/);
    const body = JSON.parse(r.body);
    assert.equal(body.type, "idle");
    assert.deepEqual(body.data, { directive_id: d.id, title: "Ship it", from_status: "active", status: "idle" });
    assert.match(body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const rows = await waitFor(async () => {
      const q = await db.pool.query("select event, attempt, status_code, error from baton.webhook_deliveries where webhook_id = $1", [hook.id]);
      return q.rows.length > 0 && q.rows;
    });
    assert.deepEqual(rows, [{ event: "idle", attempt: 1, status_code: 200, error: null }]);
  });

  it("a receiver that answers 500 gets the same message again after a backoff, and both attempts are recorded", async () => {
    const owner = await createOwner(db, "hooks-retry");
    const hook = await addWebhook(owner, flakyUrl, ["paused", "failed"]);
    const d = await createDirective(db, owner, { title: "Flaky", steps: [{ name: "a" }, { name: "b" }] });
    await db.pool.query("select baton.pause_directive($1)", [d.id]);
    const [first, second] = await waitFor(() => flaky.received.length >= 2 && flaky.received, { what: "the retry", timeoutMs: 20_000 });
    assert.equal(first!.answered, 500);
    assert.equal(second!.answered, 200);
    assert.equal(second!.headers["webhook-id"], first!.headers["webhook-id"], "a retry keeps the message id");
    assert.equal(second!.body, first!.body, "a retry sends the same body");
    verify(hook.secret, first!);
    verify(hook.secret, second!);
    assert.deepEqual(JSON.parse(second!.body).data, { directive_id: d.id, title: "Flaky", from_status: "active", status: "paused", reason: "Paused by hand." });
    const rows = await waitFor(async () => {
      const q = await db.pool.query("select attempt, status_code, error from baton.webhook_deliveries where webhook_id = $1 order by id", [hook.id]);
      return q.rows.length >= 2 && q.rows;
    });
    assert.deepEqual(rows, [
      { attempt: 1, status_code: 500, error: "The receiver answered 500." },
      { attempt: 2, status_code: 200, error: null },
    ]);
  });

  it("a step failed for good raises failed, with the step and its directive", async () => {
    const owner = await createOwner(db, "hooks-failed");
    const hook = await addWebhook(owner, okUrl, ["failed"]);
    const d = await createDirective(db, owner, { title: "Breaks", steps: [{ name: "boom" }, { name: "fine" }] });
    await db.pool.query("select baton.fail_step($1)", [d.steps.boom]);
    const r = await waitFor(() => ok.received.find((x) => JSON.parse(x.body).type === "failed" && JSON.parse(x.body).data.directive_id === d.id), {
      what: "the failed webhook",
    });
    verify(hook.secret, r);
    const data = JSON.parse(r.body).data;
    assert.equal(data.step_id, d.steps.boom);
    assert.equal(data.step_name, "boom");
    assert.equal(data.title, "Breaks");
  });

  it("enqueue_webhooks is the entry point for question and budget, and refuses unknown events", async () => {
    const owner = await createOwner(db, "hooks-question");
    const hook = await addWebhook(owner, okUrl, ["question"]);
    const n = await db.pool.query("select baton_private.enqueue_webhooks($1, 'question', $2) as n", [owner, { question_id: "q1", text: "Which DB?" }]);
    assert.equal(n.rows[0].n, 1);
    const r = await waitFor(() => ok.received.find((x) => JSON.parse(x.body).data.question_id === "q1"), { what: "the question webhook" });
    verify(hook.secret, r);
    await assert.rejects(db.pool.query("select baton_private.enqueue_webhooks($1, 'exploded', '{}')", [owner]), {
      message: 'Unknown webhook event "exploded"; the events are idle, failed, paused, question, budget.',
    });
  });

  it("a removed webhook gets nothing more, and its deliveries go with it", async () => {
    const owner = await createOwner(db, "hooks-removed");
    const hook = await addWebhook(owner, okUrl, ["paused"]);
    await db.pool.query("select baton.remove_webhook($1)", [hook.id]);
    const d = await createDirective(db, owner, { steps: [{ name: "x" }] });
    await db.pool.query("select baton.pause_directive($1)", [d.id]);
    const count = await db.pool.query("select count(*)::int as n from graphile_worker._private_jobs where payload->>'webhook_id' = $1", [hook.id]);
    assert.equal(count.rows[0].n, 0);
    assert.equal((await db.pool.query("select count(*)::int as n from baton.webhooks where owner_id = $1", [owner])).rows[0].n, 0);
  });
});
