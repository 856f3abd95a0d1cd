#!/usr/bin/env node
// Entry point of the `baton` command: TypeScript through a transpile cache (bin/ts-require.js: no
// type-checking at start, that is `npm run typecheck`), then the Node 20 shim, then the CLI.
"use strict";
const path = require("node:path");
require("./ts-require").register(path.join(__dirname, ".."));
process.env.GRAPHILE_ENV = process.env.GRAPHILE_ENV || "production"; // silences the mode banner
require("../src/shim");
require("../src/cli/main").main(process.argv.slice(2));
