#!/usr/bin/env node
/*
 * `npm run schema:release -- vX.Y.Z`: records the migrations of sql/ that no release has shipped yet
 * as released in vX.Y.Z, appending their sha256 to src/db/released-migrations.json. From then on the
 * runner refuses an edit to them (src/db/migration-files.ts). Then bump package.json, commit, and tag.
 *
 *   node scripts/release-schema.js v0.3.0
 *   node scripts/release-schema.js v0.3.0 --dir <sql dir> --manifest <json file>   (for tests)
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
const { readMigrations, ReleasesSchema, SQL_DIR } = require("../src/db/migration-files");
const { z } = require("zod");

const USAGE = `Usage: node scripts/release-schema.js vX.Y.Z [--dir <sql dir>] [--manifest <json file>]

Records every migration in the sql directory that no release lists yet as released in vX.Y.Z
(its sha256 goes into the manifest, src/db/released-migrations.json by default). The runner then
refuses any edit, rename or deletion of those files: later changes go in new migrations.`;

function parseArgs(argv) {
  const out = { dir: SQL_DIR, manifest: path.join(__dirname, "..", "src", "db", "released-migrations.json") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") return { help: true };
    if (a === "--dir" || a === "--manifest") {
      if (!argv[i + 1]) throw new Error(`${a} needs a path. ${USAGE}`);
      out[a.slice(2)] = path.resolve(argv[++i]);
    } else if (a.startsWith("-")) throw new Error(`Unknown option ${a}.\n${USAGE}`);
    else if (out.version) throw new Error(`One version only (got ${out.version} and ${a}).\n${USAGE}`);
    else out.version = a;
  }
  if (!out.version) throw new Error(`Name the release.\n${USAGE}`);
  if (!/^v\d+\.\d+\.\d+$/.test(out.version)) throw new Error(`${out.version} is not a release name: use vX.Y.Z, e.g. v0.3.0.`);
  return out;
}

const parts = (v) => v.slice(1).split(".").map(Number);
const newer = (a, b) => {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] > y[i];
  return false;
};

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) return console.log(USAGE);
  const parsed = ReleasesSchema.safeParse(JSON.parse(fs.readFileSync(args.manifest, "utf8")));
  if (!parsed.success) throw new Error(`${args.manifest} is malformed (${z.prettifyError(parsed.error)}): restore it with git.`);
  const releases = parsed.data;
  const versions = Object.keys(releases);
  if (versions.includes(args.version)) {
    const n = Object.keys(releases[args.version]).length;
    throw new Error(`${args.version} is already released (${n} migration${n === 1 ? "" : "s"}). A release is never changed: name the next version.`);
  }
  const latest = versions[versions.length - 1];
  if (latest && !newer(args.version, latest)) throw new Error(`${args.version} is not after the latest release ${latest}: name a later version.`);
  const files = readMigrations(args.dir, releases); // refuses an edited released file, a gap, a misnamed file
  const shipped = new Set(versions.flatMap((v) => Object.keys(releases[v])));
  const fresh = files.filter((m) => !shipped.has(m.name));
  if (fresh.length === 0) throw new Error(`Every migration is already released${latest ? ` (the last in ${latest})` : ""}: there is nothing to release in ${args.version}.`);
  releases[args.version] = Object.fromEntries(fresh.map((m) => [m.name, m.checksum]));
  fs.writeFileSync(args.manifest, JSON.stringify(releases, null, 2) + "\n");
  console.log(`Released ${fresh.map((m) => m.name).join(", ")} in ${args.version} (${path.relative(process.cwd(), args.manifest) || args.manifest}).`);
  console.log(`Next: set "version" in package.json to ${args.version.slice(1)}, commit, and git tag -a ${args.version} -m "Schema ${args.version}".`);
}

try {
  main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
