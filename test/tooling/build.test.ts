/*
 * The build (scripts/build.js): `npm run build` compiles src/ to dist/ and bin/baton.js runs it;
 * `npm start`'s path (prestart) rebuilds a stale dist/ and leaves a current one alone; without dist/,
 * bin/baton.js says what to run. Each case works on a scratch copy of the sources (node_modules linked),
 * so the checkout's own dist/ is never touched.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

const ROOT = path.join(__dirname, "..", "..");

function run(cwd: string, command: string, args: string[]): SpawnSyncReturns<string> {
  const env = { ...process.env, npm_config_loglevel: "error", BATON_DATA_DIR: path.join(cwd, ".baton") };
  return spawnSync(command, args, { cwd, encoding: "utf8", env, timeout: 240_000 });
}

describe("the build", () => {
  let copy: string;
  before(() => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), "baton-build-"));
    for (const entry of ["src", "bin", "scripts", "package.json", "tsconfig.json", "tsconfig.build.json"]) {
      fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(copy, "node_modules"));
  });
  after(() => fs.rmSync(copy, { recursive: true, force: true }));

  it("says what to run when dist/ was never built", () => {
    const r = run(copy, process.execPath, ["bin/baton.js", "--help"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `Baton is not built (${path.join(copy, "dist")} has no cli/main.js): run \`npm run build\` in ${copy}; npm ci and npm start build it too.\n`);
  });

  it("compiles src/ to dist/ with npm run build, and bin/baton.js runs the result", () => {
    const build = run(copy, "npm", ["run", "build"]);
    assert.equal(build.status, 0, build.stdout + build.stderr);
    assert.ok(fs.existsSync(path.join(copy, "dist", "cli", "main.js")));
    const help = run(copy, process.execPath, ["bin/baton.js", "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: baton \[options\] \[command\]\n/);
    assert.ok(!fs.existsSync(path.join(copy, "node_modules", ".cache", "baton-ts")), "no transpile cache");
  });

  it("leaves a current dist/ alone and rebuilds a stale one on npm start's path (prestart)", () => {
    const stamp = path.join(copy, "dist", ".stamp");
    const built = fs.statSync(stamp).mtimeMs;
    const fresh = run(copy, "npm", ["run", "prestart"]);
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(fresh.stderr, /baton: dist\/ is up to date/);
    assert.equal(fs.statSync(stamp).mtimeMs, built, "nothing was compiled");

    // Change what --help prints, in the copy's source only.
    const description = run(copy, process.execPath, ["bin/baton.js", "--help"]).stdout.split("\n")[2]!;
    const main = path.join(copy, "src", "cli", "main.ts");
    const source = fs.readFileSync(main, "utf8");
    assert.ok(source.includes(description), `src/cli/main.ts holds the --help description ${JSON.stringify(description)}`);
    fs.writeFileSync(main, source.replace(description, "Rebuilt from a newer source."));

    const stale = run(copy, "npm", ["run", "prestart"]);
    assert.equal(stale.status, 0, stale.stderr);
    assert.match(stale.stderr, /baton: building dist\/ \(src\/ changed since the last build\)/);
    assert.ok(fs.statSync(stamp).mtimeMs > built, "the stamp moved");
    assert.equal(run(copy, process.execPath, ["bin/baton.js", "--help"]).stdout.split("\n")[2], "Rebuilt from a newer source.");
  });
});
