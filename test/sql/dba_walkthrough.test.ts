/*
 * The README's "Baton for DBAs" session, run statement by statement: it must stay true.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { useTestDatabase, withRootDb } from "../helpers/db";

const db = useTestDatabase();
const file = path.join(__dirname, "..", "..", "docs", "dba-walkthrough.sql");

function statements(sql: string): string[] {
  return sql
    .split("\n")
    .filter((line) => !line.trim().startsWith("--"))
    .join("\n")
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

it("drives a diamond through readiness, failure, blocking, retry and idle with SQL alone", () =>
  withRootDb(db, async (c) => {
    const results: Record<string, unknown>[][] = [];
    for (const sql of statements(fs.readFileSync(file, "utf8"))) results.push((await c.query(sql)).rows);
    const statusesAfter = (i: number) => Object.fromEntries(results[i]!.map((r) => [r.name, r.status]));
    assert.deepEqual(statusesAfter(4), { a: "ready", b: "pending", c: "pending", d: "pending" });
    assert.deepEqual(statusesAfter(8), { a: "completed", b: "ready", c: "ready", d: "pending" });
    assert.deepEqual(statusesAfter(13), { a: "completed", b: "failed", c: "ready", d: "blocked" });
    assert.deepEqual(statusesAfter(17), { a: "completed", b: "ready", c: "completed", d: "pending" });
    assert.deepEqual(results[22]![0], { title: "Diamond", status: "idle", total_steps: 4, completed_steps: 4, percent_done: "100.0" });
  }));
