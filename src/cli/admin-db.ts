/*
 * Direct database access for the admin commands (owner create, token create, token rotate --owner):
 * DATABASE_URL, else the embedded PostgreSQL of the local `baton server` (its port and password are
 * in BATON_DATA_DIR); and the server's JWT secret to sign with, which they never create.
 */
import fs from "node:fs";
import path from "node:path";
import type { Client } from "pg";
import { z } from "zod";
import { resolveJwtSecret, type JwtSecret } from "../auth/secret";
import { UsageError } from "./context";

/**
 * The secret an admin command signs with: BATON_JWT_SECRET, else BATON_DATA_DIR/jwt-secret. Never
 * created here (only `baton server` creates it): a new secret would mint tokens the server refuses.
 * Says on stderr which one it uses, since a command run in the wrong directory would otherwise
 * quietly sign with another server's secret or none.
 */
export function adminJwtSecret(env: NodeJS.ProcessEnv = process.env): JwtSecret {
  const found = resolveJwtSecret(path.resolve(env.BATON_DATA_DIR || "./.baton"), env.BATON_JWT_SECRET, { create: false });
  process.stderr.write(`baton: signing with the JWT secret from ${found.source}\n`);
  return found;
}

const EmbeddedSettings = z.object({ port: z.number().int(), password: z.string() });

export function adminDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const dataDir = path.resolve(env.BATON_DATA_DIR || "./.baton");
  const file = path.join(dataDir, "postgres.json");
  if (!fs.existsSync(file)) {
    throw new UsageError(`Admin commands use the database directly: set DATABASE_URL, or run them where \`baton server\` keeps its data (${dataDir} has no postgres.json).`);
  }
  const s = EmbeddedSettings.parse(JSON.parse(fs.readFileSync(file, "utf8")));
  return `postgres://postgres:${encodeURIComponent(s.password)}@127.0.0.1:${s.port}/baton`;
}

export async function withAdminDb<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const url = adminDatabaseUrl();
  const { Client: PgClient } = require("pg") as typeof import("pg"); // only the admin commands need it; loading it slowed every command
  const client: Client = new PgClient({ connectionString: url });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`Cannot connect to the database (${(err as Error).message}). ${process.env.DATABASE_URL ? "Check DATABASE_URL." : "Is `baton server` running?"}`);
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
