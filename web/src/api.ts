/*
 * The page's link to Baton: GraphQL over HTTP (POST /graphql) and graphql-ws subscriptions, both
 * authenticated by the HttpOnly session cookie the sign-in set. HTTP requests carry x-baton-csrf
 * (the server refuses a cookie-authenticated POST without it); the websocket is accepted because it
 * comes from this server's own origin. Every failure becomes an ApiError with the API's own message.
 */
import { createClient, type Client } from "graphql-ws";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

type GraphQLBody<T> = { data?: T; errors?: { message: string }[] };

/** A query or mutation; resolves with data, or rejects with the first error's message. */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch("/graphql", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json", "x-baton-csrf": "1" },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("The Baton server did not answer; check that `baton server` is running.");
  }
  const body = (await res.json().catch(() => undefined)) as GraphQLBody<T> | undefined;
  if (body?.errors?.length) throw new ApiError(body.errors[0]!.message, res.status);
  if (!res.ok || !body?.data) throw new ApiError(`The server answered HTTP ${res.status}.`, res.status);
  return body.data;
}

/** A JSON request to the server's /auth routes. */
export async function authRequest<T>(path: string, init: { method: "GET" | "POST"; body?: unknown }): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method,
      credentials: "same-origin",
      headers: init.body === undefined ? {} : { "content-type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    throw new ApiError("The Baton server did not answer; check that `baton server` is running.");
  }
  const body = (await res.json().catch(() => undefined)) as (T & { error?: string }) | undefined;
  if (!res.ok) throw new ApiError(body?.error ?? `The server answered HTTP ${res.status}.`, res.status);
  return body as T;
}

export type ConnectionState = "connecting" | "connected" | "lost";
type Listener = (state: ConnectionState, reconnected: boolean) => void;

let client: Client | undefined;
let state: ConnectionState = "connecting";
let everConnected = false;
const listeners = new Set<Listener>();

function setState(next: ConnectionState, reconnected = false): void {
  state = next;
  for (const l of listeners) l(next, reconnected);
}

/** The one websocket of the page: it connects at once, and retries for ever when it is lost. */
export function wsClient(): Client {
  if (client) return client;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  client = createClient({
    url,
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: async (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 300 * 2 ** retries))),
    on: {
      connected: () => {
        const reconnected = everConnected;
        everConnected = true;
        setState("connected", reconnected);
      },
      closed: () => setState(everConnected ? "lost" : "connecting"),
      error: () => setState(everConnected ? "lost" : "connecting"),
    },
  });
  return client;
}

/** Follows the connection: `reconnected` is true on a connection after a lost one (refetch then: events were missed). */
export function onConnection(listener: Listener): () => void {
  listeners.add(listener);
  listener(state, false);
  return () => listeners.delete(listener);
}

/** Subscribes; `onEvent` runs for each payload, `onError` with the API's message. Returns the unsubscribe. */
export function subscribe<T>(query: string, variables: Record<string, unknown>, onEvent: (data: T) => void, onError: (message: string) => void): () => void {
  return wsClient().subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) onError(result.errors[0]!.message);
        else if (result.data) onEvent(result.data as T);
      },
      error: (err) => onError(err instanceof Error ? err.message : Array.isArray(err) ? String((err[0] as { message?: string })?.message ?? "The subscription failed.") : "The subscription was closed."),
      complete: () => undefined,
    },
  );
}
