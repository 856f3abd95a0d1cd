/*
 * graphql-ws over websockets on /graphql. grafserv's own upgrade handler (getUpgradeHandler) cannot be
 * used as it is: its WebSocket has no 'error' listener, so one malformed frame from a client (a text
 * frame that is not UTF-8, a reserved opcode, an unmasked frame) is an uncaught 'error' event that
 * stops the whole process; and it accepts messages of up to 100 MiB. This is the same wiring (grafserv's
 * graphql-ws config: context, masking, execution) with both fixed.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import { makeServer } from "graphql-ws";
import { makeGraphQLWSConfig, type GrafservBase } from "postgraphile/grafserv";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "../logger";

/** graphql-ws close code for an error inside the server (CloseCode.InternalServerError). */
const INTERNAL_ERROR = 1011;
const KEEPALIVE_MS = 12_000;

export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export function makeWebsocketHandler(serv: GrafservBase, opts: { logger: Logger; maxPayload: number }): { handle: UpgradeHandler; close: () => void } {
  const { logger } = opts;
  const graphqlWs = makeServer(makeGraphQLWSConfig(serv));
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload });
  wss.on("error", (err) => logger.warn("websocket server error", { error: err.message }));

  wss.on("connection", (socket: WebSocket, request: http.IncomingMessage) => {
    // A protocol violation by the client: ws closes the socket itself (1002/1007/1009); only log it.
    socket.on("error", (err) => logger.debug("websocket closed on a client error", { error: err.message }));
    keepAlive(socket);
    const closed = graphqlWs.opened(
      {
        protocol: socket.protocol,
        send: (data) => new Promise<void>((resolve, reject) => socket.send(data, (err) => (err ? reject(err) : resolve()))),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on("message", async (data) => {
            try {
              await cb(String(data));
            } catch (err) {
              // graphql-ws's own errors (a message it cannot read) and execution failures: close this socket only.
              logger.warn("websocket message failed", { error: err instanceof Error ? err.message : String(err) });
              try {
                socket.close(INTERNAL_ERROR, "Internal error; the server log has the details.");
              } catch {
                socket.terminate();
              }
            }
          }),
      },
      { socket, request },
    );
    socket.once("close", (code, reason) => {
      Promise.resolve(closed(code, String(reason))).catch((err: Error) => logger.warn("websocket close failed", { error: err.message }));
    });
  });

  return {
    handle(req, socket, head) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    },
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

/** Pings every 12 s and ends a socket whose pong does not come back (as grafserv does). */
function keepAlive(socket: WebSocket): void {
  let alive = true;
  const timer = setInterval(() => {
    if (!alive) return void socket.terminate();
    alive = false;
    try {
      socket.ping();
    } catch {
      socket.terminate();
    }
  }, KEEPALIVE_MS);
  timer.unref();
  socket.on("pong", () => (alive = true));
  socket.once("close", () => clearInterval(timer));
}
