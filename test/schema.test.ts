/*
 * Whole-surface snapshots: a fresh migration must match test/schema.sql and test/schema.graphql.
 * When a change is intended, review the diff and regenerate them with `npm run schema:dump`.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { it } from "node:test";
import { useTestDatabase } from "./helpers/db";
import { SNAPSHOT_GRAPHQL, SNAPSHOT_SQL, snapshotsOf } from "./helpers/schema-snapshot";

const db = useTestDatabase();

it("matches the committed schema and API snapshots (regenerate with `npm run schema:dump` after reviewing the diff)", async () => {
  const { sql, graphql } = await snapshotsOf(db.url);
  assert.equal(sql, fs.readFileSync(SNAPSHOT_SQL, "utf8"), "the database schema changed: review, then `npm run schema:dump`");
  assert.equal(graphql, fs.readFileSync(SNAPSHOT_GRAPHQL, "utf8"), "the GraphQL API changed: review, then `npm run schema:dump`");
});
