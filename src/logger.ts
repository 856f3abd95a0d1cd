/*
 * Logs through pino, on stderr: one JSON object per line when stderr is piped or a file, readable
 * coloured lines (pino-pretty) on a terminal. Fields such as directive_id, step_id, task_id and
 * daemon_id are passed in `fields`, so logs can be filtered by the ids Baton's tables use.
 *
 * `Logger` is Baton's own small interface, `logger.info(message, fields)` and `.child(fields)`, kept as
 * a thin adapter so call sites do not depend on pino's argument order. The adapter hands pino one
 * object, message first, then the child's fields, then the call's: each line reads
 * {"level":"info","time":"…","pid":…,"msg":"…",…fields}, and a field given twice appears once.
 * Error values keep their type, message and stack (pino's error serializer); tokens are redacted (see
 * REDACT and JWT_LIKE). pino is required when a logger is made, not when this module loads: most CLI
 * commands never log and should not pay for it at start.
 */
import type { DestinationStream, Logger as PinoLogger, LoggerOptions } from "pino";

export type LogFields = Record<string, unknown>;
export type Logger = {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
};

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Field paths whose values never reach a log: credentials, at the top level and one level down. */
export const REDACT = ["token", "agentToken", "authorization", "Authorization", "BATON_TOKEN", "BATON_JWT_SECRET", "BATON_METRICS_TOKEN", "jwtSecret", "password"].flatMap(
  (key) => [key, `*.${key}`],
).concat(["headers.authorization", "*.headers.authorization", "req.headers.authorization"]);
export const REDACTED = "[Redacted]";

/** A JSON Web Token anywhere in a string (message or field): header and payload are base64url JSON. */
const JWT_LIKE = /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

export type CreateLoggerOptions = {
  /** Fields on every line. */
  base?: LogFields;
  /** Where lines go; stderr by default (synchronously, so nothing is lost at exit). */
  destination?: DestinationStream | NodeJS.WritableStream;
  /** Readable lines instead of JSON; by default when stderr is a terminal. */
  pretty?: boolean;
};

/** Replaces token-looking substrings and serializes errors, in a field value (bounded depth). */
function scrub(value: unknown, serializeError: (e: Error) => unknown, depth = 0): unknown {
  if (typeof value === "string") return value.includes("eyJ") ? value.replace(JWT_LIKE, REDACTED) : value;
  if (value instanceof Error) return scrub(serializeError(value), serializeError, depth + 1);
  if (depth >= 4 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, serializeError, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, serializeError, depth + 1);
  return out;
}

export function createLogger(level: LogLevel = "info", options: CreateLoggerOptions = {}): Logger {
  const pino = require("pino") as typeof import("pino");
  const pretty = options.pretty ?? (options.destination === undefined && process.stderr.isTTY === true);
  const config: LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: REDACTED },
    formatters: {
      ...(pretty ? {} : { level: (label: string) => ({ level: label }) }), // "level":"warn", not 40
      log: (fields) => scrub(fields, pino.stdSerializers.err) as Record<string, unknown>,
    },
  };
  let destination = options.destination;
  if (pretty) {
    const pinoPretty = require("pino-pretty") as typeof import("pino-pretty");
    destination = pinoPretty.build({ destination: options.destination ?? 2, sync: true, colorize: options.destination === undefined && pinoPretty.isColorSupported, ignore: "pid", singleLine: true });
  }
  const root = pino.pino(config, destination ?? pino.destination({ fd: 2, sync: true }));
  return adapt(root, options.base ?? {});
}

/** Baton's Logger over one pino logger; a child only adds fields (see the header for why not pino's child). */
function adapt(root: PinoLogger, base: LogFields): Logger {
  const emit = (lvl: LogLevel) => (msg: string, fields?: LogFields) => {
    if (root.isLevelEnabled(lvl)) root[lvl]({ msg, ...base, ...fields });
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (fields) => adapt(root, { ...base, ...fields }),
  };
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
