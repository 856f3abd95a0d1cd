/*
 * Requests that used to stop the whole server (API and worker), sent over raw sockets to a real
 * `baton server` process: a bearer token whose header decodes to JSON `null`, a request target that
 * `new URL` rejects (for a request and for a websocket upgrade), and a websocket frame that is not
 * valid UTF-8. Each gets an answer, and the process keeps serving. A malformed Accept header, which
 * grafserv answered with a 500, gets a 400; graphql-ws messages a client gets wrong get an answer
 * that says so. /healthz reports a database outage
 * without echoing the database's error.
 */
import assert from "node:assert/strict";
import { Client } from "pg";
import { before, describe, it } from "node:test";
import WebSocket from "ws";
import { BAD_ACCEPT } from "../../src/api/accept";
import { TOO_DEEP } from "../../src/api/errors";
import { useE2E, waitForE2E } from "../helpers/e2e";
import { httpRequest, rawRequest, rawWebsocket, startHardenedServer, wsFrame, type HardenedServer } from "../helpers/raw-http";

const e2e = useE2E();

const BAD_TARGET = { error: "The request target is not a valid URL path. Baton serves /graphql, /graphiql, /healthz and /metrics." };

describe("requests that must not stop the server", () => {
  let server: HardenedServer;

  before(async () => {
    server = await startHardenedServer(e2e);
  });

  const stillServing = async (what: string) => {
    assert.ok(server.alive(), `the server process exited after ${what}`);
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200, `/healthz after ${what}`);
  };

  it("answers a bearer token whose header is JSON null with 401, then keeps serving", async () => {
    const reply = await rawRequest(
      server.port,
      httpRequest("POST", "/graphql", [["content-type", "application/json"], ["authorization", "Bearer bnVsbA.e30.AAAA"]], JSON.stringify({ query: "{__typename}" })),
    );
    assert.equal(reply.status, 401);
    assert.deepEqual(JSON.parse(reply.body.toString("utf8")), {
      errors: [{ message: "The token is not a JWT (its header or payload is not a JSON object).", extensions: { code: "UNAUTHENTICATED" } }],
    });
    await stillServing("a token whose header is null");
  });

  it("answers request targets that are not URLs (absolute-form and //) with 400, then keeps serving", async () => {
    for (const target of ["http://[::1", "//", "http://[::1/graphql", "http://a:99999/graphql"]) {
      const reply = await rawRequest(server.port, httpRequest("GET", target, []));
      assert.equal(reply.status, 400, target);
      assert.deepEqual(JSON.parse(reply.body.toString("utf8")), BAD_TARGET, target);
    }
    await stillServing("unreadable request targets");
  });

  it("answers a websocket upgrade to a target that is not a URL with 400, then keeps serving", async () => {
    const ws = await rawWebsocket(server.port, "http://[::1/graphql");
    assert.equal(ws.status, 400);
    await ws.closed;
    await stillServing("an upgrade to an unreadable target");
  });

  it("closes a websocket whose text frame is not UTF-8 (1007), then keeps serving", async () => {
    const ws = await rawWebsocket(server.port);
    assert.equal(ws.status, 101);
    ws.send(wsFrame(0x1, Buffer.from([0xff, 0xfe, 0xfd])));
    const sent = await ws.closed;
    // The server's close frame: opcode 8, then the status code 1007 (invalid frame payload data).
    assert.equal(sent[0]! & 0x0f, 0x8);
    assert.equal(sent.readUInt16BE(2), 1007);
    await stillServing("a websocket frame that is not UTF-8");
  });

  it("answers a malformed Accept header with 400 instead of grafserv's 500, and an empty one as if absent", async () => {
    const query = JSON.stringify({ query: "{ __typename }" });
    for (const accept of [",", "q=1", "*/*;q=x", "text/html;"]) {
      const reply = await rawRequest(server.port, httpRequest("POST", "/graphql", [["content-type", "application/json"], ["accept", accept]], query));
      assert.equal(reply.status, 400, accept);
      assert.deepEqual(JSON.parse(reply.body.toString("utf8")), { errors: [{ message: BAD_ACCEPT, extensions: { code: "BAD_REQUEST" } }] }, accept);
    }
    const empty = await rawRequest(server.port, httpRequest("POST", "/graphql", [["content-type", "application/json"], ["accept", ""]], query));
    assert.equal(empty.status, 200);
    assert.deepEqual(JSON.parse(empty.body.toString("utf8")), { data: { __typename: "Query" } });
    await stillServing("malformed Accept headers");
  });

  it("answers graphql-ws messages a client gets wrong with an error for the operation or a 4400 close, not 1011", async () => {
    const session = (messages: unknown[]) =>
      new Promise<{ code: number; reason: string; received: any[] }>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/graphql`, "graphql-transport-ws");
        const received: any[] = [];
        ws.on("open", () => ws.send(JSON.stringify({ type: "connection_init" })));
        ws.on("message", (data) => {
          const message = JSON.parse(String(data));
          received.push(message);
          if (message.type === "connection_ack") for (const m of messages) ws.send(JSON.stringify(m));
          if (message.type === "error") ws.close(1000);
        });
        ws.on("error", () => undefined);
        ws.on("close", (code, reason) => resolve({ code, reason: String(reason), received }));
      });
    const deep = await session([{ id: "1", type: "subscribe", payload: { query: `{${"a{".repeat(5000)}b${"}".repeat(5000)}}` } }]);
    assert.deepEqual(deep.received.at(-1), { id: "1", type: "error", payload: [{ message: TOO_DEEP }] });
    const onError = await session([{ id: "2", type: "subscribe", payload: { query: "{ __typename }", onError: "x" } }]);
    assert.deepEqual(onError.received.at(-1), {
      id: "2",
      type: "error",
      payload: [{ message: "Invalid onError; supported error behaviors are: PROPAGATE, NULL, HALT", extensions: { code: "BAD_USER_INPUT" } }],
    });
    const ack = await session([{ type: "connection_ack" }]);
    assert.deepEqual([ack.code, ack.reason], [4400, "Unexpected message of type connection_ack received"]);
    await stillServing("graphql-ws messages a client got wrong");
  });

  it("answers a document too deep to plan with BAD_USER_INPUT and a message, not a masked internal error", async () => {
    const nested = `{ directives { nodes { ${"directiveSteps { nodes { directive { ".repeat(60)}rowId${" } } }".repeat(60)} } } }`;
    const reply = await rawRequest(server.port, httpRequest("POST", "/graphql", [["content-type", "application/json"]], JSON.stringify({ query: nested })));
    assert.deepEqual(JSON.parse(reply.body.toString("utf8")).errors, [{ message: TOO_DEEP, extensions: { code: "BAD_USER_INPUT" } }]);
  });

  it("answers /healthz with 503 and a generic message when the database refuses connections, and logs the cause", async () => {
    // Another database of the cluster: a database cannot refuse connections while connected to itself.
    const admin = new Client({ connectionString: process.env.BATON_TEST_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`alter database "${e2e.db.name}" with allow_connections false`);
      // The server's connections only (its pools name themselves baton...): the test's own pool stays up.
      await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name like 'baton%'", [e2e.db.name]);
      const health = await waitForE2E(e2e, "/healthz to report the outage", async () => {
        const res = await fetch(`${server.url}/healthz`);
        return res.status === 503 && res;
      });
      assert.deepEqual(await health.json(), { status: "unavailable", error: "The database did not answer; the server log has the details." });
      await waitForE2E(e2e, "the database's error in the server log", () => server.proc.log.join("").includes("not currently accepting connections"));
    } finally {
      await admin.query(`alter database "${e2e.db.name}" with allow_connections true`);
      await admin.end();
    }
    await waitForE2E(e2e, "/healthz to recover", async () => (await fetch(`${server.url}/healthz`)).status === 200);
    assert.ok(server.alive());
  });
});
