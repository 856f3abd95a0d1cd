/*
 * Direct database access for the admin commands (owner create, token create): DATABASE_URL, else the
 * embedded PostgreSQL of the local `baton server` (its port and password are in BATON_DATA_DIR).
 */
import fs from "node:fs";
import path from "node:path";
import type { Client } from "pg";
import { z } from "zod";
import { UsageError } from "./context";

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
