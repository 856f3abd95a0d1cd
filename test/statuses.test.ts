/*
 * The status vocabularies come from the database: each status column is a PostgreSQL enum, the
 * committed generated types carry its values, and src/statuses.ts lists them in the enum's order.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import * as generated from "../src/client/generated/graphql";
import { STATUSES } from "../src/statuses";
import { useTestDatabase, withRootDb } from "./helpers/db";

const db = useTestDatabase();

const TABLES = {
  directives: { table: "directives", type: "directive_status", generated: generated.DirectiveStatus },
  steps: { table: "directive_steps", type: "step_status", generated: generated.StepStatus },
  tasks: { table: "tasks", type: "task_status", generated: generated.TaskStatus },
  daemons: { table: "daemons", type: "daemon_status", generated: generated.DaemonStatus },
} as const;

it("each table's status column is its PostgreSQL enum, and no CHECK constraint spells the statuses out again", async () => {
  await withRootDb(db, async (c) => {
    for (const { table, type } of Object.values(TABLES)) {
      const col = await c.query<{ t: string }>(
        `select atttypid::regtype::text as t from pg_attribute where attrelid = $1::regclass and attname = 'status'`,
        [`baton.${table}`],
      );
      assert.equal(col.rows[0]?.t, `baton.${type}`, `the type of baton.${table}.status`);
      const checks = await c.query(`select 1 from pg_constraint where conrelid = $1::regclass and conname = 'status_is_valid'`, [`baton.${table}`]);
      assert.equal(checks.rowCount, 0, `baton.${table} has no status_is_valid constraint`);
    }
  });
});

it("src/statuses.ts lists exactly each enum's labels in pg_enum's order, and the generated GraphQL enums carry the same values", async () => {
  await withRootDb(db, async (c) => {
    for (const [key, { type, generated: values }] of Object.entries(TABLES) as [keyof typeof TABLES, (typeof TABLES)[keyof typeof TABLES]][]) {
      const r = await c.query<{ labels: string[] }>(`select enum_range(null::baton.${type})::text[] as labels`);
      const labels = r.rows[0]!.labels;
      assert.deepEqual([...STATUSES[key]], labels, `src/statuses.ts ${key} against baton.${type}`);
      assert.deepEqual(Object.values(values).sort(), [...labels].sort(), `the generated enum for baton.${type}`);
    }
  });
});
