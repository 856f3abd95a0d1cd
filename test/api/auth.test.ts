/*
 * Who gets in: no token is anonymous (health and identity only); forged, `alg: none`, expired,
 * wrong-audience and wrong-role tokens are refused with a clear message and code UNAUTHENTICATED,
 * over HTTP (401) and over websockets (in connectionParams, where an authorization that is not one
 * string is refused too).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, describe, it } from "node:test";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { gql, gqlError, post, primeDaemonCommands, subscribe, token, useTestServer, wsClient, type TestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** The bad tokens, each with the message it must get. */
function badTokens(server: TestServer): [string, string, RegExp][] {
  const claims = { role: "baton_user", owner_id: server.credentials.owner_id, aud: "baton" };
  const good = token(server, claims);
  const [, body] = good.split(".");
  const otherSecret = `${"y".repeat(48)}`;
  const signed = (header: object, payload: object, secret: string) => {
    const unsigned = `${b64(header)}.${b64(payload)}`;
    return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
  };
  return [
    ["a bad signature", good.slice(0, -4) + (good.endsWith("AAAA") ? "BBBB" : "AAAA"), /^The token's signature is invalid \(it was not issued by this Baton server\)\.$/],
    ["another server's secret", signed({ alg: "HS256", typ: "JWT" }, claims, otherSecret), /signature is invalid/],
    ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${body}.`, /^The token uses algorithm "none"; only HS256 is accepted\.$/],
    ["alg HS512", signed({ alg: "HS512", typ: "JWT" }, claims, server.secret), /only HS256 is accepted/],
    ["an expired token", token(server, { ...claims, exp: Math.floor(Date.now() / 1000) - 60 }), /^The token has expired; ask for a new one\.$/],
    ["another audience", token(server, { ...claims, aud: "somebody-else" }), /not meant for Baton/],
    ["the role of a database superuser", token(server, { ...claims, role: "postgres" }), /^The token's claims are not valid for Baton \(role must be baton_user, baton_daemon or baton_agent/],
    ["the anonymous role claimed outright", token(server, { ...claims, role: "baton_anonymous" }), /claims are not valid for Baton/],
    ["an agent token without its task", token(server, { ...claims, role: "baton_agent" }), /claims are not valid for Baton/],
    ["something that is not a JWT", "not-a-token", /^The token is not a JWT/],
  ];
}

describe("authentication", () => {
  const server = useTestServer(db, { worker: false });

  it("treats a request without a token as anonymous: identity and health only", async () => {
    assert.deepEqual((await gql(server, `{ currentIdentity }`)).currentIdentity, { role: "baton_anonymous" });
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    for (const query of [`{ directives { nodes { rowId } } }`, `{ owners { nodes { rowId } } }`, `mutation { createDirective(input: { title: "t", goal: "g" }) { result { rowId } } }`]) {
      const err = await gqlError(server, query);
      assert.equal(err.extensions?.code, "42501", query);
      assert.match(err.message, /without a token you are anonymous and may only check health; send `Authorization: Bearer <token>`/);
    }
  });

  it("accepts the local owner's token from credentials.json", async () => {
    assert.equal(server.credentials.api_url, server.graphqlUrl);
    const identity = (await gql(server, `{ currentIdentity }`, {}, server.credentials.token)).currentIdentity;
    assert.deepEqual(identity, { role: "baton_user", owner_id: server.credentials.owner_id });
  });

  it("refuses forged, expired and wrong-role tokens over HTTP with 401 and a clear message", async () => {
    for (const [what, bad, message] of badTokens(server)) {
      const err = await gqlError(server, `{ currentIdentity }`, {}, bad);
      assert.equal(err.status, 401, what);
      assert.equal(err.extensions?.code, "UNAUTHENTICATED", what);
      assert.match(err.message, message, what);
    }
  });

  it("refuses an Authorization header that is not a bearer token", async () => {
    const res = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Basic dXNlcjpwYXNz" },
      body: JSON.stringify({ query: "{ currentIdentity }" }),
    });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { errors: [{ message: "The Authorization value must be `Bearer <token>`.", extensions: { code: "UNAUTHENTICATED" } }] });
  });

  it("refuses the same tokens over websockets, in connectionParams", async () => {
    const daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('box', owner_id => $1)", [server.credentials.owner_id])).rows[0]!.id;
    for (const [what, bad, message] of badTokens(server)) {
      const sub = subscribe(wsClient(server, bad), `subscription ($d: UUID!) { daemonCommands(daemonId: $d) { type } }`, { d: daemonId });
      const errors = (await sub.error()) as { message: string; extensions?: { code?: string } }[];
      assert.equal(errors[0]?.extensions?.code, "UNAUTHENTICATED", what);
      assert.match(errors[0]!.message, message, what);
    }
    // ...while the owner's own token subscribes fine.
    const ok = subscribe(wsClient(server, server.credentials.token), `subscription ($d: UUID!) { daemonCommands(daemonId: $d) { type } }`, { d: daemonId });
    await primeDaemonCommands(db, ok, daemonId);
    const anonymous = subscribe(wsClient(server), `subscription ($d: UUID!) { daemonCommands(daemonId: $d) { type } }`, { d: daemonId });
    const anonymousErrors = (await anonymous.error()) as { extensions?: { code?: string } }[];
    assert.equal(anonymousErrors[0]?.extensions?.code, "42501");
    ok.close();
  });

  it("refuses an authorization connection param that is not one string, and reads the key in any letter case", async () => {
    const IDENTITY = `subscription ($d: UUID!) { daemonCommands(daemonId: $d) { type } }`;
    const daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('params box', owner_id => $1)", [server.credentials.owner_id])).rows[0]!.id;
    const good = `Bearer ${server.credentials.token}`;
    const withParams = (connectionParams: Record<string, unknown>) => {
      const client = createClient({ url: server.wsUrl, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
      after(() => client.dispose());
      return client;
    };
    for (const [what, params] of [
      ["a number", { authorization: 42 }],
      ["a list", { authorization: [good] }],
      ["an object", { authorization: { bearer: server.credentials.token } }],
      ["two spellings of the key", { Authorization: good, authorization: good }],
    ] as const) {
      const sub = subscribe(withParams(params), IDENTITY, { d: daemonId });
      const errors = (await sub.error()) as { message: string; extensions?: { code?: string } }[];
      assert.deepEqual(errors, [{ message: "The authorization connection parameter must be one string, `Bearer <token>`.", extensions: { code: "UNAUTHENTICATED" } }], what);
    }
    const upper = subscribe(withParams({ AUTHORIZATION: good }), IDENTITY, { d: daemonId });
    await primeDaemonCommands(db, upper, daemonId);
    upper.close();
  });

  it("still serves good requests after refusing bad ones", async () => {
    const r = await post(server, `{ currentIdentity }`, {}, server.credentials.token);
    assert.equal(r.status, 200);
    assert.equal(r.data.currentIdentity.role, "baton_user");
  });
});
