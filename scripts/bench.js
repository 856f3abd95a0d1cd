#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --profile] [scenario...]`: see bench/run.ts.
"use strict";
const path = require("node:path");
// The scenarios start `node bin/baton.js server|worker`, which runs dist/: rebuild it when src/ is newer.
const { buildIfStale } = require("./build");
if (buildIfStale({ quiet: true }) !== 0) {
  console.error("npm run bench: dist/ could not be rebuilt (npm run build says why); the bench would measure a previous build.");
  process.exit(1);
}
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
process.env.GRAPHILE_ENV = process.env.GRAPHILE_ENV || "production"; // no mode banner
require("../src/shim");
require("../bench/run").main(process.argv.slice(2));
