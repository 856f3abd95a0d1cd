/*
 * The Accept header of a /graphql request, checked before grafserv negotiates with it: grafserv's
 * parser throws on a malformed value (`,`, `q=1`, `*\/*;q=x`, an empty header), which became a 500
 * "Unknown error occurred". A malformed Accept is the client's mistake: 400 with a message that says
 * what a valid one looks like. An empty one means "anything" and is dropped.
 */
import type http from "node:http";

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const PARAMETER = new RegExp(`^(${TOKEN})=(${TOKEN}|"(?:[^"\\\\]|\\\\.)*")$`);
const MEDIA_RANGE = new RegExp(`^(?:\\*/\\*|${TOKEN}/\\*|${TOKEN}/${TOKEN})$`);
const WEIGHT = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/** RFC 9110 §12.5.1: media ranges separated by commas, each with `;name=value` parameters and q in [0, 1]. */
export function isValidAccept(value: string): boolean {
  if (value.length > 4096) return false;
  return value.split(",").every((element) => {
    const [range, ...params] = element.split(";").map((p) => p.trim());
    if (!range || !MEDIA_RANGE.test(range)) return false;
    return params.every((p) => {
      const m = PARAMETER.exec(p);
      return m !== null && (m[1]!.toLowerCase() !== "q" || WEIGHT.test(m[2]!));
    });
  });
}

export const BAD_ACCEPT =
  "The Accept header is not a list of media types (RFC 9110), such as `application/json` or `application/graphql-response+json, application/json;q=0.9`. Send a valid one or none.";

/** Drops an empty Accept header; returns false when a non-empty one is malformed. */
export function acceptHeaderUsable(req: http.IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (accept === undefined) return true;
  if (accept.trim() === "") {
    delete req.headers.accept;
    return true;
  }
  return isValidAccept(accept);
}
