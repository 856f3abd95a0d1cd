/*
 * What clients see of errors. PostGraphile masks database errors by default; Baton's own BT… errors
 * carry messages written for users, so they pass through with extensions.code. Everything else is
 * masked to a generic message with an id that is logged beside the real error.
 */
import { randomBytes } from "node:crypto";
import { GraphQLError } from "postgraphile/graphql";
import { BATON_ERROR_CODES } from "../db/errors";
import type { Logger } from "../logger";

const SAFE_PG_CODES: Record<string, string> = {
  "22P02": "A value has the wrong format (for example an id that is not a UUID).",
  "22001": "A value is too long.",
  "23514": "A value breaks one of Baton's rules; check lengths and allowed values.",
  "42501": "Permission denied: your token's role may not do that (without a token you are anonymous and may only check health; send `Authorization: Bearer <token>`).",
  "22021": "The input contains bytes that are not valid UTF-8.",
  "22P05": "The input contains a character PostgreSQL cannot store (such as a NUL byte).",
  "54000": "The input is too large.",
};

export const TOO_DEEP = "The query is nested too deeply for Baton to run; ask for fewer levels at once.";

export function makeMaskError(logger: Logger) {
  return function maskError(error: GraphQLError): GraphQLError {
    const original = error.originalError as (Error & { code?: string; hint?: string; statusCode?: number }) | undefined;
    if (!original) {
      // A variable missing or of the wrong shape (`Variable "$d" of required type "UUID!" was not
      // provided.`): about the query, like the scalar errors below, so it gets their code.
      if (/^Variable "\$/.test(error.message)) {
        return new GraphQLError(error.message, { nodes: error.nodes, positions: error.positions, path: error.path, extensions: { ...error.extensions, code: "BAD_USER_INPUT" } });
      }
      return error; // parse and validation errors: already about the query
    }
    // Input refused before execution (input-checks.ts), arriving here over websockets.
    if ((original as { extensions?: { code?: unknown } }).extensions?.code === "BAD_USER_INPUT") {
      return new GraphQLError(original.message, { nodes: error.nodes, positions: error.positions, path: error.path, extensions: { code: "BAD_USER_INPUT" } });
    }
    // A scalar refusing a value (a UUID that is not one, ...): graphql-js's message names the variable
    // or argument and quotes the scalar's reason, so it is about the query, not the server.
    if (/^(Variable "\$[^"]+" got invalid value|Expected value of type )/.test(error.message)) {
      return new GraphQLError(error.message, { nodes: error.nodes, positions: error.positions, path: error.path, extensions: { code: "BAD_USER_INPUT" } });
    }
    // PostgreSQL refuses a NUL byte in a text parameter as "invalid byte sequence for encoding UTF8:
    // 0x00" (22021), in JSON text as 22P05: one answer for both, since NUL is valid UTF-8.
    const code = original.code === "22021" && /0x00/.test(original.message) ? "22P05" : original.code;
    if (code && code in BATON_ERROR_CODES) {
      return new GraphQLError(original.message + (original.hint ? ` ${original.hint}` : ""), {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        originalError: original,
        extensions: { ...error.extensions, code },
      });
    }
    if (code && code in SAFE_PG_CODES) {
      return new GraphQLError(SAFE_PG_CODES[code]!, { nodes: error.nodes, path: error.path, positions: error.positions, extensions: { code } });
    }
    if (original.name === "TokenError" || original.statusCode === 401) {
      return new GraphQLError(original.message, { nodes: error.nodes, path: error.path, extensions: { code: "UNAUTHENTICATED" } });
    }
    // A SafeError's message is written for clients. (Subscriptions' NotVisibleError carries BTNFD and
    // is passed above, by its code.)
    if (original.name === "SafeError") {
      return new GraphQLError(original.message, { nodes: error.nodes, path: error.path, positions: error.positions, extensions: { code: "BTNFD" } });
    }
    // grafserv's own refusals of a request (a SafeError with a 4xx status, such as an invalid onError),
    // arriving here over websockets: their messages are written for clients.
    const status = (original as { extensions?: { statusCode?: unknown } }).extensions?.statusCode;
    if (typeof status === "number" && status >= 400 && status < 500) {
      return new GraphQLError(original.message, { nodes: error.nodes, path: error.path, positions: error.positions, extensions: { code: "BAD_USER_INPUT" } });
    }
    // Grafast refuses to plan a document past its planning depth: the query's fault, not the server's.
    if (/^Query planning error: Query is too complex|^Maximum call stack size exceeded$/.test(original.message)) {
      return new GraphQLError(TOO_DEEP, { nodes: error.nodes, path: error.path, positions: error.positions, extensions: { code: "BAD_USER_INPUT" } });
    }
    const id = randomBytes(6).toString("hex");
    logger.error("request failed", { error_id: id, error: original.message, code });
    return new GraphQLError(`An unexpected error occurred (error id ${id}); the server log has the details.`, {
      nodes: error.nodes,
      path: error.path,
      positions: error.positions,
      extensions: { code: "INTERNAL", errorId: id },
    });
  };
}
