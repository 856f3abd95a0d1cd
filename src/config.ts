/*
 * Environment configuration, parsed once with zod. Modules receive the parsed values; nothing else
 * reads process.env.
 */
import path from "node:path";
import { z } from "zod";

const port = z.coerce.number().int().min(1).max(65535);

const EnvSchema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  BATON_DATA_DIR: z.string().min(1).default("./.baton"),
  BATON_PORT: port.default(4000),
  BATON_HOST: z.string().min(1).default("127.0.0.1"),
  BATON_WORKER: z.enum(["on", "off"]).default("on"),
  BATON_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),
  BATON_DAEMON_LEASE_SECONDS: z.coerce.number().int().min(1).max(86400).default(30),
  // How often the worker sweeps expired daemons and tasks past their timeout or stall limit; tests shorten it.
  BATON_SWEEP_MS: z.coerce.number().int().min(100).max(60000).default(5000),
  BATON_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  BATON_LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  // When set, /metrics answers only scrapes that send it as a bearer token.
  BATON_METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").regex(/^\S+$/, "must not contain spaces").optional(),
});

export type Config = {
  databaseUrl: string | undefined;
  dataDir: string;
  port: number;
  host: string;
  worker: boolean;
  workerConcurrency: number;
  daemonLeaseSeconds: number;
  /** BATON_SWEEP_MS: the worker's liveness, timeout and stall sweep interval (default 5000). */
  sweepMs?: number;
  logLevel: "debug" | "info" | "warn" | "error";
  jwtSecret: string | undefined;
  /** BATON_METRICS_TOKEN: required from /metrics scrapes when set. */
  metricsToken?: string | undefined;
};

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`Invalid environment variable ${String(issue.path[0])}: ${issue.message}.`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.BATON_DATA_DIR),
    port: e.BATON_PORT,
    host: e.BATON_HOST,
    worker: e.BATON_WORKER === "on",
    workerConcurrency: e.BATON_WORKER_CONCURRENCY,
    daemonLeaseSeconds: e.BATON_DAEMON_LEASE_SECONDS,
    sweepMs: e.BATON_SWEEP_MS,
    logLevel: e.BATON_LOG_LEVEL,
    jwtSecret: e.BATON_JWT_SECRET,
    metricsToken: e.BATON_METRICS_TOKEN,
  };
}
