/*
 * The server's other routes: /metrics (Prometheus text), /healthz, /graphiql and the 404 for the rest;
 * and the metrics module on its own, including a database that does not answer.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Pool } from "pg";
import { silentLogger } from "../../src/logger";
import { createMetrics } from "../../src/metrics";
import { LATENCY_BUCKETS } from "../../src/metrics/database";
import { formatFamilies, histogram } from "../../src/metrics/prometheus";
import { gql, post, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

type Sample = { name: string; labels: Record<string, string>; value: number };

/** Parses the exposition text; fails on any line that is not a comment or a sample. */
function parse(text: string): { samples: Sample[]; types: Record<string, string> } {
  const samples: Sample[] = [];
  const types: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE (\w+) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      types[type[1]!] = type[2]!;
      continue;
    }
    if (/^# HELP \w+ .+$/.test(line)) continue;
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    samples.push({ name: m[1]!, labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe("the server's routes", () => {
  const server = useTestServer(db, { worker: false });

  it("serves /metrics with counts by status, live daemons, the job queue and the dispatch latency histogram", async () => {
    const owner = server.credentials.owner_id;
    await db.pool.query("select baton.register_daemon('box', max_tasks => 5, owner_id => $1)", [owner]);
    const d = (await db.pool.query<{ id: string }>("select id from baton.create_directive('D', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    const steps = (await db.pool.query<{ id: string }>("select id from baton.batch_add_steps($1, '[{\"name\": \"a\"}, {\"name\": \"b\"}, {\"name\": \"c\"}]') order by name", [d])).rows;
    await db.pool.query("select baton.start_directive($1)", [d]);
    for (const s of steps.slice(0, 2)) await db.pool.query("select baton.create_execution_task($1, 'p')", [s.id]);
    await db.pool.query("select baton.create_directive('Draft', 'goal', owner_id => $1)", [owner]);

    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const { samples, types } = parse(await res.text());
    assert.equal(value(samples, "baton_database_up"), 1);
    assert.equal(value(samples, "baton_directives", { status: "active" }), 1);
    assert.equal(value(samples, "baton_directives", { status: "draft" }), 1);
    assert.equal(value(samples, "baton_directives", { status: "archived" }), 0, "every status is present, zero or not");
    assert.equal(value(samples, "baton_steps", { status: "running" }), 2);
    assert.equal(value(samples, "baton_steps", { status: "ready" }), 1);
    assert.equal(value(samples, "baton_tasks", { status: "starting" }), 2);
    assert.equal(value(samples, "baton_daemons", { status: "connected" }), 1);
    assert.equal(value(samples, "baton_daemons_live"), 1);
    const jobs = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where locked_at is null and run_at <= now()");
    assert.ok(jobs.rows[0]!.n > 0, "the worker is off, so jobs wait");
    assert.equal(value(samples, "baton_worker_jobs", { state: "ready" }), jobs.rows[0]!.n);
    assert.equal(types.baton_dispatch_latency_seconds, "histogram");
    const buckets = samples.filter((s) => s.name === "baton_dispatch_latency_seconds_bucket");
    assert.deepEqual(buckets.map((b) => b.labels.le), [...LATENCY_BUCKETS.map(String), "+Inf"]);
    assert.ok(buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1]!.value), "buckets are cumulative");
    assert.equal(value(samples, "baton_dispatch_latency_seconds_count"), 2);
    assert.equal(buckets.at(-1)!.value, 2);
    assert.ok(value(samples, "baton_dispatch_latency_seconds_sum")! >= 0);
    // The steps were ready while the directive was a draft: their tasks' work was ready when it started.
    const readyAt = await db.pool.query<{ ok: boolean }>(
      `select bool_and(t.ready_at > s.ready_at and t.ready_at <= t.assigned_at
                       and t.ready_at = (select e.created_at from baton.events e where e.subject_id = $1 and e.to_status = 'active')) as ok
         from baton.tasks t join baton.directive_steps s on s.id = t.step_id where t.directive_id = $1`,
      [d],
    );
    assert.equal(readyAt.rows[0]!.ok, true, "a task's ready_at is when its step was ready in an active directive");
  });

  it("counts HTTP requests by route and status", async () => {
    await fetch(`${server.url}/healthz`);
    await fetch(`${server.url}/no/such/path?x=1`);
    await post(server, `{ currentIdentity }`, {}, server.credentials.token);
    await post(server, `{ currentIdentity }`, {}, "forged.token.here");
    const { samples } = parse(await (await fetch(`${server.url}/metrics`)).text());
    const count = (route: string, status: string) => value(samples, "baton_http_requests_total", { route, status }) ?? 0;
    assert.ok(count("/healthz", "200") >= 1);
    assert.ok(count("other", "404") >= 1);
    assert.ok(count("/graphql", "200") >= 1);
    assert.ok(count("/graphql", "401") >= 1);
    assert.ok(!samples.some((s) => s.labels.route?.includes("no/such")), "unknown paths do not become labels");
  });

  it("answers /healthz, serves Ruru at /graphiql, and explains a 404", async () => {
    const health = await fetch(`${server.url}/healthz`);
    assert.deepEqual([health.status, await health.json()], [200, { status: "ok" }]);
    const ide = await fetch(`${server.url}/graphiql`);
    assert.equal(ide.status, 200);
    assert.match(ide.headers.get("content-type") ?? "", /text\/html/);
    const html = await ide.text();
    assert.match(html, /ruru/i);
    const script = /href="([^"]*ruru[^"]*\.js)"/.exec(html)?.[1];
    assert.ok(script, "the page loads Ruru's script from this server");
    assert.equal((await fetch(new URL(script, `${server.url}/graphiql`))).status, 200);
    const missing = await fetch(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: "No route /nope. Baton serves /graphql, /graphiql, /healthz and /metrics." });
    assert.equal((await gql(server, `{ currentIdentity }`)).currentIdentity.role, "baton_anonymous");
  });
});

describe("the metrics module", () => {
  it("reports baton_database_up 0 and the HTTP counts when the database does not answer", async () => {
    const pool = new Pool({ connectionString: "postgres://nobody@127.0.0.1:1/none", connectionTimeoutMillis: 1000 });
    pool.on("error", () => undefined);
    try {
      const metrics = createMetrics(pool, silentLogger);
      const { samples } = parse(await metrics.render());
      assert.equal(value(samples, "baton_database_up"), 0);
      assert.equal(samples.filter((s) => s.name.startsWith("baton_tasks")).length, 0);
    } finally {
      await pool.end();
    }
  });

  it("escapes label values and writes histograms in the exposition format", () => {
    const text = formatFamilies([
      { name: "x_total", help: "A help\nline.", type: "counter", samples: [{ labels: { route: 'a"b\\c\nd' }, value: 3 }] },
      histogram("y_seconds", "Y.", [[0.1, 1], [1, 2]], 0.7, 3),
    ]);
    assert.equal(
      text,
      [
        "# HELP x_total A help\\nline.",
        "# TYPE x_total counter",
        'x_total{route="a\\"b\\\\c\\nd"} 3',
        "# HELP y_seconds Y.",
        "# TYPE y_seconds histogram",
        'y_seconds_bucket{le="0.1"} 1',
        'y_seconds_bucket{le="1"} 2',
        'y_seconds_bucket{le="+Inf"} 3',
        "y_seconds_sum 0.7",
        "y_seconds_count 3",
        "",
      ].join("\n"),
    );
  });
});
