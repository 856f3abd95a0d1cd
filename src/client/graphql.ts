/*
 * A small GraphQL client for the CLI and the daemon: HTTP for queries and mutations, graphql-ws for
 * subscriptions. Errors become one GraphQLRequestError with the server's message and code, so callers
 * print one clear line.
 */
// The client entry point: the package root also loads graphql-ws's server and graphql-js, a fifth
// of the start-up time of every CLI command.
import { createClient, type Client as WsClient } from "graphql-ws/client";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
// The printer alone, not the graphql package root (which loads all of graphql-js).
import { print } from "graphql/language/printer";
import WebSocket from "ws";

/*
 * Operations are typed documents generated from test/schema.graphql (`npm run codegen`, into
 * ./generated/graphql.ts): the result and the variables of each request are checked against the
 * schema at compile time. A plain string is accepted for ad-hoc queries (tests), typed `unknown`
 * unless the caller says otherwise.
 */
export type { TypedDocumentNode };
type Variables = Record<string, unknown>;

const printed = new WeakMap<object, string>();
function queryText(document: TypedDocumentNode<unknown, never> | string): string {
  if (typeof document === "string") return document;
  let text = printed.get(document);
  if (text === undefined) printed.set(document, (text = print(document)));
  return text;
}

export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly kind: "graphql" | "network" | "auth",
  ) {
    super(message);
  }
}

/*
 * Timeouts. Every HTTP request is aborted after REQUEST_TIMEOUT_MS (the whole exchange: connect,
 * headers and body), so a request into a network partition fails instead of hanging for ever; a
 * timeout is a "network" error, which the daemon retries like any other. Callers may pass a shorter
 * one (the daemon's heartbeat). A websocket must finish its HTTP upgrade within WS_HANDSHAKE_TIMEOUT_MS
 * and be acknowledged within WS_ACK_TIMEOUT_MS, and a ping left without pong for WS_PONG_TIMEOUT_MS
 * closes it, so graphql-ws reconnects instead of listening on a dead connection.
 */
export const REQUEST_TIMEOUT_MS = 30_000;
const WS_HANDSHAKE_TIMEOUT_MS = 10_000;
const WS_ACK_TIMEOUT_MS = 10_000;
const WS_KEEPALIVE_MS = 10_000;
const WS_PONG_TIMEOUT_MS = 10_000;

/** ws with a handshake timeout: graphql-ws constructs its socket with (url, protocol) only. */
class TimedWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { handshakeTimeout: WS_HANDSHAKE_TIMEOUT_MS });
  }
}

type GraphQLResponse<T> = { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };

export class GraphQLClient {
  constructor(
    readonly url: string,
    readonly token: string | undefined,
  ) {}

  request<R, V extends Variables>(document: TypedDocumentNode<R, V>, variables: V, opts?: { timeoutMs?: number }): Promise<R>;
  request<R = unknown>(query: string, variables?: Variables, opts?: { timeoutMs?: number }): Promise<R>;
  async request<R>(document: TypedDocumentNode<R, never> | string, variables: Variables = {}, opts: { timeoutMs?: number } = {}): Promise<R> {
    const query = queryText(document as TypedDocumentNode<unknown, never> | string);
    const timeoutMs = Math.max(1, Math.round(opts.timeoutMs ?? REQUEST_TIMEOUT_MS)); // AbortSignal.timeout takes an integer
    const signal = AbortSignal.timeout(timeoutMs);
    const timedOut = () => new GraphQLRequestError(`The Baton API at ${this.url} did not answer within ${timeoutMs / 1000} s.`, undefined, "network");
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: JSON.stringify({ query, variables }),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw timedOut();
      throw new GraphQLRequestError(`Cannot reach the Baton API at ${this.url} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}). Is \`baton server\` running?`, undefined, "network");
    }
    let body: GraphQLResponse<R>;
    try {
      body = (await res.json()) as GraphQLResponse<R>;
    } catch {
      if (signal.aborted) throw timedOut();
      throw new GraphQLRequestError(`The Baton API at ${this.url} answered HTTP ${res.status} without JSON.`, undefined, "network");
    }
    if (body.errors?.length) {
      const e = body.errors[0]!;
      const code = e.extensions?.code;
      throw new GraphQLRequestError(e.message, code, code === "UNAUTHENTICATED" || res.status === 401 ? "auth" : "graphql");
    }
    if (!body.data) throw new GraphQLRequestError(`The Baton API answered HTTP ${res.status} with no data.`, undefined, "network");
    return body.data;
  }

  /** A graphql-ws client on the same URL (ws:// or wss://), authenticated through connectionParams. */
  websocket(opts: { onConnected?: () => void; onClosed?: () => void } = {}): WsClient {
    let socket: WebSocket | undefined;
    let pongTimer: NodeJS.Timeout | undefined;
    return createClient({
      url: this.url.replace(/^http/, "ws"),
      webSocketImpl: TimedWebSocket,
      // A function, read at every (re)connection: a daemon that renewed its token reconnects with the new one.
      connectionParams: () => (this.token ? { authorization: `Bearer ${this.token}` } : {}),
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: async (retries) => new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** Math.min(retries, 6)) * (0.5 + Math.random() / 2))),
      keepAlive: WS_KEEPALIVE_MS,
      connectionAckWaitTimeout: WS_ACK_TIMEOUT_MS,
      on: {
        connected: (s) => {
          socket = s as WebSocket;
          opts.onConnected?.();
        },
        // A ping left without pong: the connection is dead (a partition), so drop it and reconnect.
        ping: (received) => {
          if (received) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => socket?.readyState === WebSocket.OPEN && socket.terminate(), WS_PONG_TIMEOUT_MS);
          pongTimer.unref();
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
        closed: () => {
          clearTimeout(pongTimer);
          opts.onClosed?.();
        },
      },
    });
  }
}

/** Runs a subscription until `onData` returns "stop", the server completes it, or it errors. */
export function subscribe<R, V extends Variables>(
  ws: WsClient,
  document: TypedDocumentNode<R, V>,
  variables: V,
  onData: (data: R) => void | "stop" | Promise<void | "stop">,
): { done: Promise<void>; cancel: () => void } {
  let cancel = () => undefined as void;
  const done = new Promise<void>((resolve, reject) => {
    cancel = ws.subscribe<R>(
      { query: queryText(document as TypedDocumentNode<unknown, never>), variables },
      {
        next: (msg) => {
          if (msg.errors?.length) {
            const e = msg.errors[0] as { message: string; extensions?: { code?: string } };
            reject(new GraphQLRequestError(e.message, e.extensions?.code, "graphql"));
            return;
          }
          Promise.resolve(onData(msg.data as R)).then((r) => {
            if (r === "stop") {
              cancel();
              resolve();
            }
          }, reject);
        },
        error: (err) => reject(err instanceof Error ? err : new GraphQLRequestError(describeWsError(err), undefined, "network")),
        complete: () => resolve(),
      },
    );
  });
  return { done, cancel: () => cancel() };
}

function describeWsError(err: unknown): string {
  if (Array.isArray(err)) return (err[0] as { message?: string })?.message ?? "subscription failed";
  const e = err as { reason?: string; code?: number; message?: string };
  return e?.reason || e?.message || `the websocket closed (code ${e?.code ?? "unknown"})`;
}
