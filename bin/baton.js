#!/usr/bin/env node
// Entry point of the `baton` command: the compiled CLI in dist/ (`npm run build`; npm ci and npm start
// build it when it is missing or stale), after the Node 20 shim.
"use strict";
const path = require("node:path");
process.env.GRAPHILE_ENV = process.env.GRAPHILE_ENV || "production"; // silences the mode banner
const dist = path.join(__dirname, "..", "dist");
try {
  require.resolve(path.join(dist, "cli", "main.js"));
} catch {
  process.stderr.write(`Baton is not built (${dist} has no cli/main.js): run \`npm run build\` in ${path.dirname(__dirname)}; npm ci and npm start build it too.\n`);
  process.exit(1);
}
process.setSourceMapsEnabled(true); // stack traces name src/*.ts lines (dist/ has source maps); about 2% of a call's CPU
require(path.join(dist, "shim.js"));
require(path.join(dist, "cli", "main.js")).main(process.argv.slice(2));
