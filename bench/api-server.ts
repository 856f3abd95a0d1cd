/*
 * The API the fake daemons talk to: `baton server` as a child process on the scenario's database,
 * with the bench's JWT secret, so the bench can sign owner tokens it accepts. Owners and directives
 * are still created with SQL (setup, not measured); everything a daemon does goes through this server.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Pool } from "pg";
import { mintOwnerToken } from "../src/auth/mint";
import { freePort } from "../src/db/embedded";
import { startServerProcess, type ServerProcess } from "./worker-process";

const JWT_SECRET = randomBytes(32).toString("base64url");

export type BenchApi = { server: ServerProcess; graphqlUrl: string; ownerToken(ownerId: string): Promise<string>; stop(): Promise<void> };

/** worker: run graphile-worker inside the server (`npm start`), or not (beside `baton worker` children). */
export async function startApi(url: string, pool: Pool, opts: { worker: boolean; concurrency?: number; env?: Record<string, string> }): Promise<BenchApi> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-bench-server-"));
  const server = await startServerProcess(url, { jwtSecret: JWT_SECRET, port: await freePort(), worker: opts.worker, concurrency: opts.concurrency, dataDir, env: opts.env });
  return {
    server,
    graphqlUrl: server.graphqlUrl,
    ownerToken: async (ownerId) => (await mintOwnerToken(pool, ownerId, JWT_SECRET)).token,
    stop: async () => {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Fresh statistics after seeding: plans made on empty tables must not decide the figures. */
export async function analyze(pool: Pool): Promise<void> {
  await pool.query("analyze");
}
