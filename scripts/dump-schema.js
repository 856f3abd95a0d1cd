#!/usr/bin/env node
/*
 * `npm run schema:dump`: writes test/schema.sql (the database schema, from the catalogs) and
 * test/schema.graphql (the GraphQL API as PostGraphile builds it) from a freshly migrated database.
 */
"use strict";
const path = require("node:path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
process.env.GRAPHILE_ENV = process.env.GRAPHILE_ENV || "production"; // silences the mode banner
require("../src/shim");
require("../test/helpers/schema-snapshot").writeSnapshots().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
