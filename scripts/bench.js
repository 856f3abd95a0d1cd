#!/usr/bin/env node
// `npm run bench [-- --quick]`: see bench/run.ts.
"use strict";
const path = require("node:path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
process.env.GRAPHILE_ENV = process.env.GRAPHILE_ENV || "production"; // no mode banner
require("../src/shim");
require("../bench/run").main(process.argv.slice(2));
