// Loaded into every test process: TypeScript through ts-node, and the Node 20 shim.
"use strict";
const path = require("node:path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "..", "tsconfig.json") });
process.env.GRAPHILE_ENV = process.env.GRAPHILE_ENV || "development"; // extra checks in tests, and no mode banner
require("../../src/shim");
