/*
 * graphql-ws over websockets on /graphql. grafserv's own upgrade handler (getUpgradeHandler) cannot be
 * used as it is: its WebSocket has no 'error' listener, so one malformed frame from a client (a text
 * frame that is not UTF-8, a reserved opcode, an unmasked frame) is an uncaught 'error' event that
 * stops the whole process; and it accepts messages of up to 100 MiB. This is the same wiring (grafserv's
 * graphql-ws config: context, masking, execution) with both fixed.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import { makeServer, type ServerOptions } from "graphql-ws";
import { GraphQLError } from "postgraphile/graphql";
import { makeGraphQLWSConfig, type GrafservBase } from "postgraphile/grafserv";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "../logger";
import { TOO_DEEP } from "./errors";

/** graphql-ws close codes: an error inside the server (CloseCode.InternalServerError), a bad client message (CloseCode.BadRequest). */
const INTERNAL_ERROR = 1011;
const BAD_REQUEST = 4400;
const KEEPALIVE_MS = 12_000;

export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export function makeWebsocketHandler(serv: GrafservBase, opts: { logger: Logger; maxPayload: number }): { handle: UpgradeHandler; close: () => void } {
  const { logger } = opts;
  const graphqlWs = makeServer(withSafeSubscribe(makeGraphQLWSConfig(serv)));
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
              // graphql-ws's own errors and execution failures: close this socket only.
              const message = err instanceof Error ? err.message : String(err);
              if (socket.readyState !== socket.OPEN) return void logger.debug("websocket message after close", { error: message });
              // A message type a client may not send (connection_ack, next...) is the client's mistake: say so.
              const clientMistake = /^Unexpected message of type \S+ received$/.test(message);
              if (!clientMistake) logger.warn("websocket message failed", { error: message });
              try {
                socket.close(clientMistake ? BAD_REQUEST : INTERNAL_ERROR, clientMistake ? message.slice(0, 120) : "Internal error; the server log has the details.");
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

/**
 * grafserv's onSubscribe can answer a subscribe message with errors that are not GraphQLErrors (a
 * document nested too deeply for the parser gives a RangeError), which graphql-ws refuses by closing
 * the socket. Turn them into GraphQLErrors, so the client gets an error message for its operation.
 */
function withSafeSubscribe(config: ServerOptions): ServerOptions {
  const onSubscribe = config.onSubscribe;
  if (!onSubscribe) return config;
  return {
    ...config,
    async onSubscribe(ctx, id, payload) {
      const result = await onSubscribe(ctx, id, payload);
      if (!Array.isArray(result) || result.every((e) => e instanceof GraphQLError) && result.length > 0) return result;
      const errors = (result as unknown[]).map((e) => new GraphQLError(e instanceof RangeError ? TOO_DEEP : e instanceof Error ? e.message : "The operation could not be run."));
      return errors.length > 0 ? errors : [new GraphQLError("The operation could not be run.")];
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
