/*
 * The server's other routes: /metrics (Prometheus text), /healthz, /graphiql and the 404 for the rest;
 * /metrics behind BATON_METRICS_TOKEN; the counters behind /metrics (exact, and read without scanning
 * tasks, steps or directives); and the metrics module on its own, including a database that does not
 * answer.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Pool } from "pg";
import { ConfigError, loadConfig } from "../../src/config";
import { silentLogger } from "../../src/logger";
import { createMetrics } from "../../src/metrics";
import { LATENCY_BUCKETS, readSnapshot, SNAPSHOT_SQL } from "../../src/metrics/database";
import { startServer, type RunningServer } from "../../src/server";
import { Registry } from "prom-client";
import { SnapshotHistogram } from "../../src/metrics/prometheus";
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

  it("serves the process's own metrics: CPU, resident memory, heap and event-loop lag", async () => {
    const { samples, types } = parse(await (await fetch(`${server.url}/metrics`)).text());
    for (const [name, type] of [
      ["process_cpu_seconds_total", "counter"],
      ["process_resident_memory_bytes", "gauge"],
      ["nodejs_heap_size_used_bytes", "gauge"],
      ["nodejs_eventloop_lag_seconds", "gauge"],
      ["nodejs_eventloop_lag_p99_seconds", "gauge"],
    ]) {
      assert.equal(types[name!], type, `${name} is a ${type}`);
      assert.ok(value(samples, name!)! >= 0, `${name} has a value`);
    }
    assert.ok(value(samples, "process_resident_memory_bytes")! > 10 * 1024 * 1024, "the server's RSS, in bytes");
    assert.ok(value(samples, "nodejs_heap_size_used_bytes")! > 1024 * 1024, "its heap, in bytes");
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

describe("/metrics with BATON_METRICS_TOKEN", () => {
  const TOKEN = "metrics-token-0123456789abcdef";
  let server: RunningServer;
  let dataDir: string;
  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-metrics-"));
    // Through loadConfig, as `baton server` reads its environment.
    const config = loadConfig({ DATABASE_URL: db.url, BATON_DATA_DIR: dataDir, BATON_PORT: "4000", BATON_WORKER: "off", BATON_JWT_SECRET: "s".repeat(40), BATON_METRICS_TOKEN: TOKEN });
    server = await startServer({ ...config, port: 0 }, silentLogger);
  });
  after(async () => {
    await server?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const scrape = (authorization?: string) => fetch(`${server.url}/metrics`, { headers: authorization === undefined ? {} : { authorization } });
  const MISSING = "/metrics requires a token: send the value of BATON_METRICS_TOKEN as 'Authorization: Bearer <token>'.";
  const WRONG = "The metrics token is wrong: send the value of BATON_METRICS_TOKEN as 'Authorization: Bearer <token>'.";

  it("refuses a scrape without the token (401) and says what to send", async () => {
    for (const header of [undefined, "", TOKEN, `Basic ${TOKEN}`, "Bearer"]) {
      const res = await scrape(header);
      assert.equal(res.status, 401, `Authorization: ${header}`);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="baton-metrics"');
      assert.deepEqual(await res.json(), { error: MISSING });
    }
  });

  it("refuses a wrong token (401), including its prefix and the token with a suffix", async () => {
    for (const wrong of ["nope", TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase()]) {
      const res = await scrape(`Bearer ${wrong}`);
      assert.equal(res.status, 401, wrong);
      assert.deepEqual(await res.json(), { error: WRONG });
    }
  });

  it("serves a scrape that sends the token, and still counts the refused ones", async () => {
    const res = await scrape(`Bearer ${TOKEN}`);
    assert.equal(res.status, 200);
    const { samples } = parse(await res.text());
    assert.equal(value(samples, "baton_database_up"), 1);
    assert.ok((value(samples, "baton_http_requests_total", { route: "/metrics", status: "401" }) ?? 0) >= 1);
    assert.equal((await scrape(`bearer ${TOKEN}`)).status, 200, "the scheme is case-insensitive");
  });

  it("leaves /healthz and /graphql as they were", async () => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  it("refuses a short BATON_METRICS_TOKEN at start", () => {
    assert.throws(() => loadConfig({ BATON_METRICS_TOKEN: "short" }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, "Invalid environment variable BATON_METRICS_TOKEN: must be at least 16 characters.");
      return true;
    });
  });
});

describe("the counters behind /metrics", () => {
  /** Counts by status as a full scan would give them, for comparison with the counters. */
  async function countsByScan() {
    const q = async (table: string) =>
      Object.fromEntries((await db.pool.query<{ status: string; n: number }>(`select status, count(*)::int as n from baton.${table} group by status`)).rows.map((r) => [r.status, r.n]));
    return { directives: await q("directives"), steps: await q("directive_steps"), tasks: await q("tasks"), daemons: await q("daemons") };
  }
  async function countsByCounters() {
    const s = await readSnapshot(db.pool);
    return { directives: s.directives, steps: s.steps, tasks: s.tasks, daemons: s.daemons };
  }

  it("stay exact through inserts, status changes, folds and cascading deletes", async () => {
    const owner = (await db.pool.query<{ id: string }>("select (baton.create_owner('counted')).id as id")).rows[0]!.id;
    await db.pool.query("select baton.register_daemon('counted-box', max_tasks => 50, owner_id => $1)", [owner]);
    const d = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Counted', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    const batch = JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ name: `s${i}` })));
    const steps = (await db.pool.query<{ id: string }>("select id from baton.batch_add_steps($1, $2::jsonb)", [d, batch])).rows;
    await db.pool.query("select baton.start_directive($1)", [d]);
    for (const s of steps.slice(0, 40)) await db.pool.query("select baton.create_execution_task($1, 'p')", [s.id]);
    assert.deepEqual(await countsByCounters(), await countsByScan());
    const unfolded = async () => (await db.pool.query<{ n: number }>("select count(*)::int as n from baton_private.metric_deltas")).rows[0]!.n;
    // Every 512th counted change folds in the writer's own transaction: the 2001st does not, the 2048th does.
    await db.pool.query("select setval('baton_private.metric_fold_ticket', 2000)");
    await db.pool.query("select baton.create_directive('Counted 2', 'goal', owner_id => $1)", [owner]);
    assert.equal(await unfolded(), 1, "one directive inserted: one delta, not folded yet");
    await db.pool.query("select setval('baton_private.metric_fold_ticket', 2047)");
    await db.pool.query("select baton.create_directive('Counted 3', 'goal', owner_id => $1)", [owner]);
    assert.equal(await unfolded(), 0, "the 2048th change folded every delta, its own included");
    assert.deepEqual(await countsByCounters(), await countsByScan());

    await db.pool.query("delete from baton.owners where id = $1", [owner]); // cascades to every table counted
    assert.deepEqual(await countsByCounters(), await countsByScan());
  });

  it("histogram the dispatch latency in the buckets the SQL uses", async () => {
    const r = await db.pool.query<{ b: number[] }>("select baton_private.dispatch_latency_buckets() as b");
    assert.deepEqual(r.rows[0]!.b, LATENCY_BUCKETS);
    const labels = await db.pool.query<{ l: string }>("select baton_private.latency_bucket(x) as l from unnest(array[0, 0.005, 0.0051, 3600, 3600.5]::float8[]) x");
    assert.deepEqual(labels.rows.map((x) => x.l), ["0.005", "0.005", "0.01", "3600", "+Inf"]);
  });

  it("are read without touching tasks, steps or directives (no scan that grows with history)", async () => {
    const client = await db.pool.connect();
    try {
      const reads = async () => {
        await client.query("select pg_stat_force_next_flush()");
        await client.query("select 1"); // the flush happens at the end of the previous statement's transaction
        await client.query("select pg_stat_clear_snapshot()");
        const r = await client.query<{ relname: string; scans: string }>(
          `select relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) as scans from pg_stat_user_tables
            where schemaname = 'baton' and relname in ('tasks', 'directive_steps', 'directives') order by relname`,
        );
        return Object.fromEntries(r.rows.map((x) => [x.relname, Number(x.scans)]));
      };
      const before = await reads();
      await client.query(SNAPSHOT_SQL);
      const after = await reads();
      assert.deepEqual(after, before);
      // The same probe sees the full-scan query that /metrics used before the counters.
      await client.query("select status, count(*) from baton.tasks group by status");
      const scanned = await reads();
      assert.equal(scanned.tasks, before.tasks! + 1, "the probe notices a scan of tasks");
    } finally {
      client.release();
    }
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

  it("writes a histogram counted in the database in the exposition format", async () => {
    const registry = new Registry();
    const h = new SnapshotHistogram({ name: "y_seconds", help: "Y.", buckets: [0.1, 1], registers: [registry] });
    h.set({ buckets: [[0.1, 1], [1, 2]], sum: 0.7, count: 3 });
    assert.equal(
      await registry.metrics(),
      [
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
