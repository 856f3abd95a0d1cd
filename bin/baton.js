#!/usr/bin/env node
// Entry point of the `baton` command: the Node 20 shim first, then TypeScript through ts-node
// (transpile-only: type-checking is `npm run typecheck`, once, not at every start).
"use strict";
const path = require("node:path");
require("ts-node").register({
  project: path.join(__dirname, "..", "tsconfig.json"),
  transpileOnly: true,
});
process.env.GRAPHILE_ENV = process.env.GRAPHILE_ENV || "production"; // silences the mode banner
require("../src/shim");
require("../src/cli/main").main(process.argv.slice(2));
