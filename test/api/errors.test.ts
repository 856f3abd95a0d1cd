/*
 * Bad requests get a GraphQL error that says what is wrong, Baton's own BT… errors arrive with their
 * code in extensions.code (maskError passes them), other database errors are masked, and the server
 * keeps serving after each.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gql, gqlError, post, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

describe("errors through GraphQL", () => {
  const server = useTestServer(db, { worker: false });
  const owner = () => server.credentials.token;
  const stillServing = async () => {
    const r = await post(server, `{ currentIdentity }`, {}, owner());
    assert.deepEqual(r.data, { currentIdentity: { role: "baton_user", owner_id: server.credentials.owner_id } });
  };

  it("answers a malformed query with a syntax error, then keeps serving", async () => {
    const err = await gqlError(server, `{ directives { nodes { rowId }`, {}, owner());
    assert.match(err.message, /^Syntax Error: Expected Name, found <EOF>\./);
    await stillServing();
  });

  it("answers an unknown field and a missing argument with validation errors", async () => {
    const unknown = await gqlError(server, `{ directives { nodes { secretColumn } } }`, {}, owner());
    assert.match(unknown.message, /Cannot query field "secretColumn" on type "Directive"/);
    const missing = await gqlError(server, `query { directive { rowId } }`, {}, owner());
    assert.match(missing.message, /argument "rowId" of type "UUID!" is required/);
    await stillServing();
  });

  it("answers values of the wrong type before they reach the database", async () => {
    const notUuid = await gqlError(server, `query ($id: UUID!) { directive(rowId: $id) { rowId } }`, { id: "not-a-uuid" }, owner());
    assert.equal(notUuid.extensions?.code, "BAD_USER_INPUT");
    assert.match(notUuid.message, /^Variable "\$id" got invalid value "not-a-uuid"; Invalid UUID/);
    const literal = await gqlError(server, `{ directive(rowId: "nope") { rowId } }`, {}, owner());
    assert.match(literal.message, /Invalid UUID/);
    const notInt = await gqlError(server, `mutation { registerDaemon(input: { name: "d", maxTasks: "many" }) { result { rowId } } }`, {}, owner());
    assert.match(notInt.message, /Int cannot represent non-integer value: "many"/);
    const notJsonArray = await gqlError(
      server,
      `mutation ($d: UUID!) { batchAddSteps(input: { directiveId: $d, steps: {name: "x"} }) { result { rowId } } }`,
      { d: "00000000-0000-0000-0000-000000000000" },
      owner(),
    );
    assert.ok(notJsonArray.extensions?.code, "a database refusal carries a code");
    await stillServing();
  });

  it("answers a body that is not JSON with 400", async () => {
    const res = await fetch(server.graphqlUrl, { method: "POST", headers: { "content-type": "application/json" }, body: "{ not json" });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { errors: { message: string }[] };
    assert.match(body.errors[0]!.message, /Parsing failed/);
    await stillServing();
  });

  it("refuses an oversized input with BTINV and the limit, through GraphQL", async () => {
    const goal = "g".repeat(102401);
    const err = await gqlError(server, `mutation ($goal: String!) { createDirective(input: { title: "Big", goal: $goal }) { result { rowId } } }`, { goal }, owner());
    assert.equal(err.extensions?.code, "BTINV");
    assert.equal(err.message, "The goal is 102401 bytes; the limit is 102400 bytes. Shorten it, or keep the long text in the repository and refer to it.");
    await stillServing();
  });

  it("refuses a request body above 4 MiB before parsing it, then keeps serving", async () => {
    const r = await post(server, `mutation ($goal: String!) { createDirective(input: { title: "Huge", goal: $goal }) { result { rowId } } }`, { goal: "h".repeat(5 * 1024 * 1024) }, owner());
    assert.equal(r.status, 413);
    assert.ok(r.errors?.[0]?.message);
    await stillServing();
  });

  it("passes Baton's errcodes through as extensions.code with the database's message and hint", async () => {
    const d = (await gql(server, `mutation { createDirective(input: { title: "T", goal: "G" }) { result { rowId } } }`, {}, owner())).createDirective.result.rowId;
    const cycle = await gqlError(
      server,
      `mutation ($d: UUID!, $s: JSON!) { batchAddSteps(input: { directiveId: $d, steps: $s }) { result { rowId } } }`,
      { d, s: [{ key: "a", name: "a", dependsOn: ["b"] }, { key: "b", name: "b", dependsOn: ["a"] }] },
      owner(),
    );
    assert.equal(cycle.extensions?.code, "BTCYC");
    assert.match(cycle.message, /cycle/i);
    await gql(server, `mutation ($d: UUID!) { archiveDirective(input: { directiveId: $d }) { result { status } } }`, { d }, owner());
    const archived = await gqlError(server, `mutation ($d: UUID!) { startDirective(input: { directiveId: $d }) { result { status } } }`, { d }, owner());
    assert.equal(archived.extensions?.code, "BTSTS");
    assert.equal(archived.message, `Directive ${d} is archived, so it cannot be started; only draft or paused directives can. Archiving is final; create a new directive instead.`);
    const missing = await gqlError(server, `mutation { pauseDirective(input: { directiveId: "00000000-0000-0000-0000-000000000000" }) { result { status } } }`, {}, owner());
    assert.equal(missing.extensions?.code, "BTNFD");
    assert.equal(missing.message, "Directive 00000000-0000-0000-0000-000000000000 does not exist. List your directives with `baton directive list`.");
    await stillServing();
  });

  it("explains the database errors users can cause, and masks the rest behind an error id", async () => {
    // A NUL byte in JSON text: PostgreSQL refuses it (22P05), and the message says so without internals.
    const nul = await gqlError(
      server,
      `mutation ($d: UUID!, $s: JSON!) { batchAddSteps(input: { directiveId: $d, steps: $s }) { result { rowId } } }`,
      { d: "00000000-0000-0000-0000-000000000000", s: [{ name: "nul \u0000 byte" }] },
      owner(),
    );
    assert.equal(nul.extensions?.code, "22P05");
    assert.equal(nul.message, "The input contains a character PostgreSQL cannot store (such as a NUL byte).");
    // A bigint out of range (22003) is not one Baton names: masked, with an id for the server log.
    const masked = await gqlError(server, `{ transactionEvents(directiveId: "00000000-0000-0000-0000-000000000000", firstEventId: "99999999999999999999") { nodes { rowId } } }`, {}, owner());
    assert.equal(masked.extensions?.code, "INTERNAL");
    assert.match(masked.message, /^An unexpected error occurred \(error id [0-9a-f]{12}\); the server log has the details\.$/);
    assert.doesNotMatch(masked.message, /out of range|bigint/);
    await stillServing();
  });
});
