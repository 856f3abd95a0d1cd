#!/usr/bin/env node
/*
 * `npm test`: every test against a real PostgreSQL. DATABASE_URL names a server to use (the tests
 * create and drop their own databases on it); without it an embedded throw-away cluster is started.
 * The schema is migrated once into a template database; each test file clones it (cheap), so files
 * never share data and can run in parallel. First dist/ is rebuilt if src/ changed (scripts/build.js):
 * the e2e and fault tests spawn bin/baton.js, which runs dist/, so they test the current source.
 *
 *   npm test                         all of test/**\/*.test.ts except the fault suite (test/faults)
 *   npm test -- test/sql/foo.test.ts only the files named
 *   npm run test:faults              only test/faults: slow (kills and restarts processes), so run
 *                                    one file at a time, each test bounded by --test-timeout
 *   npm run test:fuzz                only test/fuzz: thousands of generated hostile requests against a
 *                                    real server (bounded by BATON_FUZZ_RUNS and BATON_FUZZ_SECONDS)
 *   npm run test:tooling             only test/tooling: the build and codegen in scratch copies of the
 *                                    project (tsc and graphql-codegen: CPU-bound, about a minute)
 *   npm run test:browser             only test/browser: the web dashboard in Debian's headless chromium
 *                                    (playwright-core) against real servers and daemons, one file at a time
 */
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
require("../src/shim");
const { startEmbeddedPostgres } = require("../src/db/embedded");
const { createPool } = require("../src/db/pool");
const { migrate } = require("../src/db/migrate");
const { createLogger } = require("../src/logger");
const { Client } = require("pg");
const { buildIfStale } = require("./build");

const root = path.join(__dirname, "..");

function findTests(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(full));
    else if (entry.name.endsWith(".test.ts")) out.push(full);
  }
  return out.sort();
}

function withDatabase(url, database) {
  const u = new URL(url);
  u.pathname = "/" + database;
  return u.toString();
}

async function main() {
  // The suites of their own (each an npm script, each run by .ci/run); `npm test` runs the rest.
  const SUITES = ["faults", "fuzz", "tooling", "browser"];
  const suite = SUITES.find((name) => process.argv[2] === `--${name}`);
  const args = process.argv.slice(suite ? 3 : 2);
  const suiteDir = (name) => path.join(root, "test", name);
  const faultsDir = suiteDir("faults");
  const fuzzDir = suiteDir("fuzz");
  const inside = (dir) => (f) => f.startsWith(dir + path.sep);
  const files =
    args.length > 0
      ? args.map((f) => path.resolve(f))
      : suite
        ? findTests(suiteDir(suite))
        : findTests(path.join(root, "test")).filter((f) => !SUITES.some((name) => inside(suiteDir(name))(f)));
  // Fault, fuzz and browser files, however named: one at a time (they load the machine).
  const slow = files.length > 0 && files.every((f) => inside(faultsDir)(f) || inside(fuzzDir)(f) || inside(suiteDir("browser"))(f));
  // The e2e and fault tests spawn bin/baton.js, which runs dist/: compile it first if src/ changed.
  if (buildIfStale({ quiet: true }) !== 0) console.error("npm test: dist/ could not be rebuilt; tests that spawn bin/baton.js run the previous build");
  const logger = createLogger(process.env.BATON_LOG_LEVEL || "warn");
  let embedded;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-test-"));
    embedded = await startEmbeddedPostgres(dir, logger, { persistent: false, database: "postgres" });
    adminUrl = embedded.adminUrl;
  }
  const template = `baton_template_${process.pid}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  let code = 1;
  try {
    await admin.query(`create database "${template}"`);
    const pool = createPool(withDatabase(adminUrl, template), logger, 4);
    await migrate(pool, logger);
    await pool.end();
    // Four files at a time on two cores: the e2e files spend much of their time waiting on child
    // processes (servers, daemons, agents), so the cores stay busier (measured: 5:12 at 3, 4:49 at 4).
    const child = spawn(
      process.execPath,
      ["--require", path.join(root, "test", "helpers", "register.js"), "--test", `--test-concurrency=${slow ? 1 : 4}`, `--test-timeout=${slow ? 240000 : 300000}`, ...files],
      { stdio: "inherit", env: { ...process.env, BATON_TEST_ADMIN_URL: adminUrl, BATON_TEST_TEMPLATE: template } },
    );
    const stop = () => child.kill("SIGINT");
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    code = await new Promise((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  } finally {
    await admin.query(`drop database if exists "${template}" with (force)`).catch(() => undefined);
    await admin.end();
    if (embedded) await embedded.stop();
  }
  process.exit(code);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
