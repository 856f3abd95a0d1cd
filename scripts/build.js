#!/usr/bin/env node
/*
 * The build: tsc compiles src/ to dist/ (tsconfig.build.json), and bin/baton.js runs dist/.
 *
 *   npm run build                      type-checks and compiles; exits non-zero on any type error
 *   node scripts/build.js --if-stale   compiles only when dist/ is missing or older than src/, without
 *                                      type-checking (tsc --noCheck: `npm run typecheck` does that).
 *                                      `prepare` (npm ci), `prestart` (npm start) and scripts/test.js
 *                                      call it, so a fresh clone and an edited checkout both run current code.
 *
 * The web dashboard (web/, Vite + Preact) is built the same way into dist/web, which `baton server` serves
 * at /: when dist/web/.stamp is missing or older than a file under web/ (or package-lock.json). Its build
 * needs the dev dependencies (vite); without them it is skipped with a message, and the server answers
 * the dashboard's paths with how to build it.
 *
 * Stale means: some file under src/, or a tsconfig, changed after the stamp dist/.stamp, which is given
 * the time the last successful build *started* (an edit made during a build counts as newer). The check
 * is a stat of each source file, a few milliseconds. Builds are serialized by a lock directory, since
 * several test runs may share one checkout; whoever waits re-checks before compiling.
 */
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..");
const SRC = path.join(ROOT, "src");
const DIST = path.join(ROOT, "dist");
const STAMP = path.join(DIST, ".stamp");
const LOCK = path.join(ROOT, ".dist.lock");
const INPUTS = [path.join(ROOT, "tsconfig.json"), path.join(ROOT, "tsconfig.build.json")];
const WEB = path.join(ROOT, "web");
const WEB_DIST = path.join(DIST, "web");
const WEB_STAMP = path.join(WEB_DIST, ".stamp");
const LOCK_STALE_MS = 5 * 60_000; // a build takes seconds: a lock this old was left by a killed process

/** The newest modification time (ms) of the compiler's inputs. */
function newestInput() {
  let newest = 0;
  const visit = (dir) => {
    if (path.basename(dir) === "node_modules") return;
    newest = Math.max(newest, fs.statSync(dir).mtimeMs); // a file added, removed or renamed here
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  if (fs.existsSync(SRC)) visit(SRC);
  for (const file of INPUTS) newest = Math.max(newest, fs.statSync(file).mtimeMs);
  return newest;
}

/**
 * The newest modification time (ms) of the dashboard's inputs: web/, the status lists it shares with the
 * CLI (src/statuses.ts and the generated enums it reads) and the lock file (a new Preact or Vite).
 */
function newestWebInput() {
  let newest = 0;
  const visit = (dir) => {
    newest = Math.max(newest, fs.statSync(dir).mtimeMs);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  visit(WEB);
  for (const file of ["package-lock.json", "src/statuses.ts", "src/client/generated/graphql.ts"]) {
    const full = path.join(ROOT, file);
    if (fs.existsSync(full)) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Why dist/web must be rebuilt, or undefined when it is current (or there is no web/ to build). */
function webStaleness() {
  if (!fs.existsSync(WEB)) return undefined;
  let stamp;
  try {
    stamp = fs.statSync(WEB_STAMP).mtimeMs;
  } catch {
    return "dist/web has not been built";
  }
  if (!fs.existsSync(path.join(WEB_DIST, "index.html"))) return "dist/web/index.html is missing";
  if (newestWebInput() > stamp) return "web/ changed since the last build";
  return undefined;
}

/** Runs vite build (web/vite.config.mjs); stamps dist/web with the start time when it succeeds. */
function buildWeb() {
  let vite;
  try {
    vite = path.join(path.dirname(require.resolve("vite/package.json", { paths: [ROOT] })), "bin", "vite.js"); // its exports hide bin/
  } catch {
    process.stderr.write("baton: the web dashboard is not built: Vite is not installed (install with dev dependencies: `npm ci`, then `npm run build`). The API works without it.\n");
    return 0;
  }
  const started = new Date();
  const result = spawnSync(process.execPath, [vite, "build", "--config", path.join(WEB, "vite.config.mjs")], { cwd: ROOT, stdio: "inherit" });
  const status = result.status ?? 1;
  if (status === 0) {
    fs.writeFileSync(WEB_STAMP, `${started.toISOString()}\n`);
    fs.utimesSync(WEB_STAMP, started, started);
  } else {
    process.stderr.write("baton: the web dashboard's build (vite) failed; see above.\n");
  }
  return status;
}

/** Why dist/ must be rebuilt, or undefined when it is current. */
function staleness() {
  let stamp;
  try {
    stamp = fs.statSync(STAMP).mtimeMs;
  } catch {
    return "dist/ has not been built";
  }
  if (!fs.existsSync(path.join(DIST, "cli", "main.js"))) return "dist/cli/main.js is missing";
  if (newestInput() > stamp) return "src/ changed since the last build";
  return undefined;
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function withLock(fn) {
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      break;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      try {
        if (Date.now() - fs.statSync(LOCK).mtimeMs > LOCK_STALE_MS) fs.rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      sleep(200);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Runs tsc; stamps dist/ with the start time when it succeeds. Returns tsc's exit status. */
function compile({ check }) {
  const started = new Date();
  const tsc = require.resolve("typescript/bin/tsc", { paths: [ROOT] });
  const args = [tsc, "-p", path.join(ROOT, "tsconfig.build.json"), ...(check ? [] : ["--noCheck"])];
  const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: "inherit" });
  const status = result.status ?? 1;
  if (status === 0) {
    fs.writeFileSync(STAMP, `${started.toISOString()}\n`);
    fs.utimesSync(STAMP, started, started);
  }
  return status;
}

/**
 * Builds dist/ if it is missing or stale. Returns 0 when dist/ is current. `quiet` drops the
 * "up to date" line (the test harness prints enough).
 */
function buildIfStale({ quiet = false } = {}) {
  if (!fs.existsSync(SRC)) return 0; // an install without sources (a Docker layer before COPY): nothing to build
  if (!staleness() && !webStaleness()) {
    if (!quiet) process.stderr.write("baton: dist/ is up to date\n");
    return 0;
  }
  return withLock(() => {
    const why = staleness(); // another build may have finished while we waited
    if (why) {
      process.stderr.write(`baton: building dist/ (${why})\n`);
      try {
        require.resolve("typescript/bin/tsc", { paths: [ROOT] });
      } catch {
        process.stderr.write("baton: cannot build dist/: the TypeScript compiler is not installed; run `npm ci` (with dev dependencies), then `npm run build`.\n");
        return 1;
      }
      const status = compile({ check: false });
      if (status !== 0) return status;
    }
    const webWhy = webStaleness();
    if (!webWhy) return 0;
    process.stderr.write(`baton: building the web dashboard into dist/web (${webWhy})\n`);
    return buildWeb();
  });
}

function build() {
  return withLock(() => compile({ check: true }) || (fs.existsSync(WEB) ? buildWeb() : 0));
}

module.exports = { buildIfStale, build, staleness, webStaleness };

if (require.main === module) {
  process.exitCode = process.argv.includes("--if-stale") ? buildIfStale() : build();
}
