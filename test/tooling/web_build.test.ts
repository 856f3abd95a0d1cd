/*
 * The web dashboard's build (scripts/build.js with web/): on a fresh copy without dist/, `npm start`'s
 * prestart builds dist/ and dist/web; run again it leaves both alone; an edit under web/ rebuilds
 * dist/web only (test/api/web_dashboard.test.ts serves what it builds). A scratch copy of the
 * sources (node_modules linked), so the checkout's own dist/ is never touched.
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

describe("the web dashboard's build", () => {
  let copy: string;
  before(() => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), "baton-web-build-"));
    for (const entry of ["src", "bin", "scripts", "web", "package.json", "tsconfig.json", "tsconfig.build.json"]) {
      fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(copy, "node_modules"));
  });
  after(() => fs.rmSync(copy, { recursive: true, force: true }));

  it("prestart builds dist/web on a fresh copy, leaves it alone when current, and rebuilds it after an edit under web/", () => {
    const fresh = run(copy, "npm", ["run", "prestart"]);
    assert.equal(fresh.status, 0, fresh.stdout + fresh.stderr);
    assert.match(fresh.stderr, /baton: building the web dashboard into dist\/web \(dist\/web has not been built\)/);
    const index = fs.readFileSync(path.join(copy, "dist", "web", "index.html"), "utf8");
    const script = /src="\/assets\/([^"]+\.js)"/.exec(index)?.[1];
    assert.ok(script && fs.existsSync(path.join(copy, "dist", "web", "assets", script)), index);

    const again = run(copy, "npm", ["run", "prestart"]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /baton: dist\/ is up to date/);

    const later = new Date(Date.now() + 2_000);
    fs.utimesSync(path.join(copy, "web", "src", "format.ts"), later, later);
    const edited = run(copy, "npm", ["run", "prestart"]);
    assert.equal(edited.status, 0, edited.stderr);
    assert.match(edited.stderr, /baton: building the web dashboard into dist\/web \(web\/ changed since the last build\)/);
    assert.doesNotMatch(edited.stderr, /building dist\/ \(/, "src/ did not change: tsc does not run");
  });
});
