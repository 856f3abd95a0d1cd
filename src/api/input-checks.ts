/*
 * Text that is not text, refused before GraphQL sees it. Node decodes a request body that is not
 * UTF-8 (raw 0xFF bytes) by replacing the bad bytes with U+FFFD, and passes a JSON "\ud800" (a lone
 * UTF-16 surrogate, half of a character) on as it is; node-postgres then stores U+FFFD for it too.
 * Either way a step name or goal would be stored with replacement characters instead of being
 * refused, or (inside a JSON argument) PostgreSQL would refuse it with a format error that does not
 * say what is wrong. Here both get HTTP 400, extensions.code BAD_USER_INPUT and a message naming the
 * problem and, for a surrogate, where it is. Over websockets the ws library already refuses frames
 * that are not UTF-8, so only surrogates are checked there.
 */
import { isUtf8 } from "node:buffer";
import { SafeError } from "postgraphile/grafast";

function badInput(message: string): SafeError {
  return Object.assign(new SafeError(message, { statusCode: 400, code: "BAD_USER_INPUT" }), { statusCode: 400 });
}

const LONE_SURROGATE = /\p{Cs}/u; // with the u flag, a paired surrogate is one code point, not Cs

/** The path of the first string (or key) holding a lone surrogate, e.g. `variables.steps[0].name`. */
export function loneSurrogatePath(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return LONE_SURROGATE.test(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = loneSurrogatePath(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      if (LONE_SURROGATE.test(key)) return `${path} (a key)`;
      const found = loneSurrogatePath(child, `${path}.${key}`);
      if (found) return found;
    }
  }
  return undefined;
}

export const InputChecksPlugin: GraphileConfig.Plugin = {
  name: "BatonInputChecksPlugin",
  version: "0.0.0",
  grafserv: {
    middleware: {
      async processGraphQLRequestBody(next, event) {
        // getBody is memoised by grafserv: this is the buffer it parsed, not a second read.
        const raw = event.request ? await event.request.getBody() : undefined;
        if (raw?.type === "buffer" && !isUtf8(raw.buffer)) {
          throw badInput("The request body is not valid UTF-8 (it has bytes such as 0xFF that encode no character); send the JSON encoded as UTF-8.");
        }
        const { query, variableValues } = event.body;
        const where = loneSurrogatePath(query, "the query") ?? loneSurrogatePath(variableValues, "variables");
        if (where) {
          throw badInput(
            `The text at ${where} contains a lone UTF-16 surrogate (such as \\ud800), which is half of a character, not text; send valid Unicode.`,
          );
        }
        return next();
      },
    },
  },
};
