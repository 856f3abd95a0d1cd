/*
 * Statuses are PostgreSQL enums, so the API exposes them as GraphQL enums whose values are the SQL
 * labels themselves (lowercase, as before on the wire), and a status filter passed as a variable
 * is checked against the enum.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gql, gqlError, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

const FIELDS = [
  { type: "Directive", enumType: "DirectiveStatus", pg: "directive_status" },
  { type: "DirectiveStep", enumType: "StepStatus", pg: "step_status" },
  { type: "Task", enumType: "TaskStatus", pg: "task_status" },
  { type: "Daemon", enumType: "DaemonStatus", pg: "daemon_status" },
] as const;

describe("status enums in the API", () => {
  const server = useTestServer(db, { worker: false });

  for (const f of FIELDS) {
    it(`${f.type}.status is ${f.enumType}!, whose values are exactly baton.${f.pg}'s labels`, async () => {
      const data = await gql(
        server,
        `query ($t: String!, $e: String!) {
           t: __type(name: $t) { fields { name type { kind ofType { kind name } } } }
           e: __type(name: $e) { kind enumValues { name } }
         }`,
        { t: f.type, e: f.enumType },
      );
      const status = data.t.fields.find((x: { name: string }) => x.name === "status");
      assert.deepEqual(status.type, { kind: "NON_NULL", ofType: { kind: "ENUM", name: f.enumType } });
      const labels = (await db.pool.query<{ l: string[] }>(`select enum_range(null::baton.${f.pg})::text[] as l`)).rows[0]!.l;
      assert.equal(data.e.kind, "ENUM");
      assert.deepEqual(data.e.enumValues.map((v: { name: string }) => v.name).sort(), [...labels].sort());
    });
  }

  it("filters by a status given in a variable, and refuses a status that is not one", async () => {
    const owner = server.credentials.owner_id;
    const draft = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Draft', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    const archived = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Gone', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    await db.pool.query("select baton.archive_directive($1)", [archived]);
    const query = `query ($s: DirectiveStatus!) { directives(condition: { status: $s }) { nodes { rowId status } } }`;
    assert.deepEqual((await gql(server, query, { s: "draft" }, server.credentials.token)).directives.nodes, [{ rowId: draft, status: "draft" }]);
    assert.deepEqual((await gql(server, query, { s: "archived" }, server.credentials.token)).directives.nodes, [{ rowId: archived, status: "archived" }]);
    const bad = await gqlError(server, query, { s: "exploded" }, server.credentials.token);
    assert.equal(bad.message, 'Variable "$s" got invalid value "exploded"; Value "exploded" does not exist in "DirectiveStatus" enum.');
  });
});
