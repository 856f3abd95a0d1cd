/*
 * Every request of the client (CLI and daemon) has a timeout: a server that accepts the connection and
 * never answers (a partition that drops packets) costs a request its timeout, not for ever.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, describe, it } from "node:test";
import { GraphQLClient, GraphQLRequestError, REQUEST_TIMEOUT_MS } from "../../src/client/graphql";

describe("GraphQLClient.request", () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
  });
  after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });

  it("fails as a network error, saying so, when the API does not answer within its timeout", async () => {
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/graphql`;
    const client = new GraphQLClient(url, "token");
    await assert.rejects(client.request("{ __typename }", {}, { timeoutMs: 300 }), (err: unknown) => {
      assert.ok(err instanceof GraphQLRequestError);
      assert.equal(err.kind, "network");
      assert.equal(err.message, `The Baton API at ${url} did not answer within 0.3 s.`);
      return true;
    });
    assert.equal(sockets.size, 1, "the request did reach the server");
  });

  it("has a default timeout", () => {
    assert.equal(REQUEST_TIMEOUT_MS, 30_000);
  });
});
