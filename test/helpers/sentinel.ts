/*
 * Negative subscription checks without sleeping. "Nothing arrived within 100 ms" proves little: a
 * slow machine delivers later. So after the action whose notification must NOT be delivered, a test
 * causes a notification that MUST be delivered (the sentinel) and waits for it; everything that came
 * before it has come by then. Then it checks what the server sent on the refused subscription's
 * socket, frame by frame.
 *
 * Frames, not the graphql-ws client's callbacks: the client drops messages for an operation it
 * considers finished (after its error), so `pending()` of a refused subscription is empty whatever the
 * server sends. recordingWsClient keeps every frame the socket sends and receives.
 */
import assert from "node:assert/strict";
import { after } from "node:test";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import type { Subscription, TestServer } from "./api";

export type Frame = { dir: "in" | "out"; id?: string; type: string; payload?: any };

export type RecordingClient = { client: Client; frames: Frame[] };

const parseFrame = (data: unknown): Omit<Frame, "dir"> => {
  try {
    return JSON.parse(String(data)) as Omit<Frame, "dir">;
  } catch {
    return { type: `unreadable: ${String(data).slice(0, 80)}` };
  }
};

/** A graphql-ws client (like wsClient) whose socket records every frame in `frames`. */
export function recordingWsClient(server: TestServer, bearer?: string): RecordingClient {
  const frames: Frame[] = [];
  class RecordingWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      this.on("message", (data) => frames.push({ dir: "in", ...parseFrame(data) }));
    }
    override send(data: any, ...rest: any[]): void {
      frames.push({ dir: "out", ...parseFrame(data) });
      (super.send as (...args: any[]) => void)(data, ...rest);
    }
  }
  const client = createClient({
    url: server.wsUrl,
    webSocketImpl: RecordingWebSocket,
    connectionParams: bearer ? { authorization: `Bearer ${bearer}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
  after(() => client.dispose());
  return { client, frames };
}

/** The ids of the operations this socket started with these variables (graphql-ws picks the ids). */
export function operationIds(frames: Frame[], variables: Record<string, unknown>): string[] {
  return frames
    .filter((f) => f.dir === "out" && f.type === "subscribe" && JSON.stringify(f.payload?.variables ?? {}) === JSON.stringify(variables))
    .map((f) => f.id!);
}

/**
 * Asserts the server refused each operation (an `error` frame, or a `next` carrying only errors, then
 * `complete`) and sent it no data: nothing else arrived for it.
 */
export function assertOnlyRefused(frames: Frame[], ids: string[], what = "the refused subscription"): void {
  assert.ok(ids.length > 0, `${what}: no such operation was sent on this socket`);
  for (const id of ids) {
    const received = frames.filter((f) => f.dir === "in" && f.id === id);
    const refusal = (f: Frame) => f.type === "error" || (f.type === "next" && Array.isArray(f.payload?.errors) && f.payload.data == null);
    assert.ok(received.length > 0 && refusal(received[0]!), `${what} (operation ${id}) was not refused: ${JSON.stringify(received)}`);
    assert.deepEqual(
      received.slice(1).filter((f) => f.type !== "complete"),
      [],
      `${what} (operation ${id}) received something after its refusal`,
    );
  }
}

/**
 * Sends the sentinel until `sub` receives it (the first sends may come before the server's LISTEN is
 * in place: graphql-ws does not acknowledge a subscription), and returns it. Payloads that are not
 * the sentinel fail the test: the sentinel's subscription sees only what the test sends.
 */
export async function awaitSentinel<T>(
  sub: Subscription<T>,
  send: () => Promise<unknown>,
  isSentinel: (payload: T) => boolean,
  opts: { what?: string; ignore?: (payload: T) => boolean } = {},
): Promise<T> {
  const what = opts.what ?? "the sentinel";
  for (let i = 0; ; i++) {
    await send();
    for (;;) {
      const payload = await sub.next(100).catch((err: Error) => {
        if (i < 200 && /no subscription payload/.test(err.message)) return undefined;
        throw new Error(`${what} never arrived: ${err.message}`);
      });
      if (payload === undefined) break;
      if (isSentinel(payload)) return payload;
      assert.ok(opts.ignore?.(payload), `${what}: expected it, got ${JSON.stringify(payload)}`); // else an earlier sentinel or prime, still on its way
    }
  }
}
