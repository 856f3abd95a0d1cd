/*
 * src/statuses.ts is the one TypeScript copy of the status vocabularies; the database is the
 * authority. Each list must be exactly what the table's `status_is_valid` constraint accepts.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { STATUSES } from "../src/statuses";
import { useTestDatabase, withRootDb } from "./helpers/db";

const db = useTestDatabase();

const TABLES = { directives: "directives", steps: "directive_steps", tasks: "tasks", daemons: "daemons" } as const;

it("each status list in src/statuses.ts is exactly what its table's status_is_valid constraint accepts", async () => {
  await withRootDb(db, async (c) => {
    for (const [key, table] of Object.entries(TABLES) as [keyof typeof TABLES, string][]) {
      const r = await c.query<{ def: string }>(
        `select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1::regclass and conname = 'status_is_valid'`,
        [`baton.${table}`],
      );
      assert.equal(r.rowCount, 1, `baton.${table} has a status_is_valid constraint`);
      const accepted = [...r.rows[0]!.def.matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]);
      assert.deepEqual([...STATUSES[key]].sort(), accepted.sort(), `the statuses of baton.${table}`);
    }
  });
});
