/*
 * API tests: a real `baton server` (startServer) on the file's test database, spoken to over real
 * HTTP (fetch) and real websockets (graphql-ws + ws). Nothing here reaches into the server's
 * internals; root SQL goes through the file's pool (db.pool) only to set up or to peek.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { signJwt } from "../../src/auth/jwt";
import type { Config } from "../../src/config";
import { createLogger, silentLogger } from "../../src/logger";
import { startServer, type RunningServer } from "../../src/server";
import type { TestDb } from "./db";
import { waitFor } from "./wait";

export type GraphQLError = { message: string; extensions?: { code?: string; [k: string]: unknown }; path?: unknown[] };
export type GraphQLResult<T = any> = { data?: T | null; errors?: GraphQLError[] };

export type TestServer = RunningServer & {
  graphqlUrl: string;
  wsUrl: string;
  dataDir: string;
  secret: string;
  /** The local owner's token and id, from credentials.json as the server wrote it. */
  credentials: { api_url: string; owner_id: string; token: string };
};

/** Starts `baton server` on the test database (port 0, a temp data dir, the worker on) and stops it after the current test. */
export async function startTestServer(db: TestDb, opts: { worker?: boolean } = {}): Promise<TestServer> {
  const server = await startServerFor(db, opts);
  after(() => stopServer(server));
  return server;
}

async function startServerFor(db: TestDb, opts: { worker?: boolean }): Promise<TestServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-api-"));
  const secret = `test-secret-${"x".repeat(40)}`;
  const config: Config = {
    databaseUrl: db.url,
    dataDir,
    port: 0,
    host: "127.0.0.1",
    worker: opts.worker ?? true,
    workerConcurrency: 2,
    daemonLeaseSeconds: 30,
    logLevel: "warn",
    jwtSecret: secret,
  };
  const logger = process.env.BATON_TEST_LOG ? createLogger("debug") : silentLogger;
  const server = await startServer(config, logger);
  const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, "credentials.json"), "utf8"));
  return {
    ...server,
    graphqlUrl: `${server.url}/graphql`,
    wsUrl: `${server.url.replace(/^http/, "ws")}/graphql`,
    dataDir,
    secret,
    credentials,
  };
}

async function stopServer(server: TestServer): Promise<void> {
  await server.close();
  fs.rmSync(server.dataDir, { recursive: true, force: true });
}

/**
 * A server for a describe block: started before its tests, stopped after them. Call it inside the
 * describe callback: node:test (Node 20) runs root-level hooks without waiting for one another, so at
 * the top level the server could start before the database exists or outlive it.
 */
export function useTestServer(db: TestDb, opts: { worker?: boolean } = {}): TestServer {
  const holder = {} as TestServer;
  let server: TestServer | undefined;
  before(async () => {
    // Root-level before hooks of node:test (Node 20) do not wait for one another: wait for the database.
    await waitFor(() => db.url, { what: "the test database" });
    server = await startServerFor(db, opts);
    Object.assign(holder, server);
  });
  after(async () => {
    if (server) await stopServer(server);
  });
  return holder;
}

/** POSTs one GraphQL operation; returns the HTTP status and the parsed body. */
export async function post<T = any>(
  server: TestServer,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<GraphQLResult<T> & { status: number }> {
  const res = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: GraphQLResult<T>;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
  return { status: res.status, ...body };
}

/** Runs an operation that must succeed and returns its data. */
export async function gql<T = any>(server: TestServer, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const r = await post<T>(server, query, variables, token);
  assert.equal(r.errors, undefined, `unexpected GraphQL errors: ${JSON.stringify(r.errors)}`);
  return r.data as T;
}

/** Runs an operation that must fail and returns its first error. */
export async function gqlError(server: TestServer, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GraphQLError & { status: number }> {
  const r = await post(server, query, variables, token);
  assert.ok(r.errors && r.errors.length > 0, `expected a GraphQL error, got data ${JSON.stringify(r.data)}`);
  return { status: r.status, ...r.errors[0]! };
}

/** Signs a token with the server's secret (claims as the server would mint them: an hour's exp unless given; `exp: undefined` leaves it out). */
export function token(server: TestServer, claims: Record<string, unknown>): string {
  return signJwt(JSON.parse(JSON.stringify({ aud: "baton", iss: "baton", exp: Math.floor(Date.now() / 1000) + 3600, ...claims })), server.secret);
}

/** A graphql-ws client on the server's /graphql, with `Authorization: Bearer` in connectionParams. */
export function wsClient(server: TestServer, bearer?: string): Client {
  const client = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: bearer ? { authorization: `Bearer ${bearer}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
  after(() => client.dispose());
  return client;
}

/**
 * One subscription as a queue: `next()` waits for the next payload (or throws its error), `started`
 * resolves once the server acknowledged the subscription by... nothing: graphql-ws has no per-operation
 * ack, so callers prove the subscription is live by triggering an event and waiting for it.
 */
export type Subscription<T> = {
  next: (timeoutMs?: number) => Promise<T>;
  /** Payloads received so far and not yet taken by next(). */
  pending: () => T[];
  /** The first error, once it arrives. */
  error: () => Promise<unknown>;
  close: () => void;
};

export function subscribe<T = any>(client: Client, query: string, variables: Record<string, unknown>): Subscription<T> {
  const queue: T[] = [];
  const waiters: { resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  let failure: unknown;
  let failed: (e: unknown) => void = () => undefined;
  const errorPromise = new Promise<unknown>((resolve) => (failed = resolve));
  const fail = (err: unknown) => {
    if (failure !== undefined) return;
    failure = err;
    failed(err);
    for (const w of waiters.splice(0)) w.reject(err);
  };
  const dispose = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) return fail(value.errors);
        const data = value.data as T;
        const waiter = waiters.shift();
        if (waiter) waiter.resolve(data);
        else queue.push(data);
      },
      error: (err) => fail(err),
      complete: () => fail(new Error("the subscription completed")),
    },
  );
  return {
    next: (timeoutMs = 10_000) => {
      if (queue.length > 0) return Promise.resolve(queue.shift()!);
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<T>((resolve, reject) => {
        const waiter = {
          resolve: (v: T) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e: unknown) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no subscription payload within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    pending: () => [...queue],
    error: () => errorPromise,
    close: dispose,
  };
}

/**
 * graphql-ws does not acknowledge a subscription, so a test cannot know when the server's LISTEN is
 * in place. Priming proves it: a harmless notification is sent on the channel (as root) until one
 * arrives through the subscription; the primes received are taken off the queue.
 */
async function prime<T>(sub: Subscription<T>, send: () => Promise<unknown>, isPrime: (payload: T) => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await send();
    try {
      const payload = await sub.next(100);
      assert.ok(isPrime(payload), `expected a priming payload first, got ${JSON.stringify(payload)}`);
      break;
    } catch (err) {
      if (!/no subscription payload/.test(String((err as Error).message ?? err))) throw err;
    }
  }
  // Later primes (sent before the first arrived) may still be on their way: let them land, drop them.
  await new Promise((r) => setTimeout(r, 50));
  while (sub.pending().length > 0 && isPrime(sub.pending()[0]!)) await sub.next();
}

/** Primes a daemonCommands subscription with `ping` commands (the test skips them). */
export async function primeDaemonCommands(db: TestDb, sub: Subscription<any>, daemonId: string): Promise<void> {
  await prime(
    sub,
    () => db.pool.query("select pg_notify($1, $2)", [`baton:daemon:${daemonId}`, JSON.stringify({ type: "ping", task_id: "00000000-0000-0000-0000-000000000000" })]),
    (p) => p?.daemonCommands?.type === "ping",
  );
}

/**
 * Primes a directiveEvents subscription by re-announcing the directive's latest event; returns that
 * event's id, so the test can ignore everything up to it.
 */
export async function primeDirectiveEvents(db: TestDb, sub: Subscription<any>, directiveId: string): Promise<bigint> {
  const last = (await db.pool.query<{ id: string; kind: string }>("select id::text, kind from baton.events where directive_id = $1 order by id desc limit 1", [directiveId]))
    .rows[0]!;
  await prime(
    sub,
    () => db.pool.query("select pg_notify($1, $2)", [`baton:directive:${directiveId}`, JSON.stringify({ event_id: Number(last.id), kind: last.kind })]),
    (p) => p?.directiveEvents?.firstEventId === last.id,
  );
  return BigInt(last.id);
}
