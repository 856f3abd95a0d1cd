/*
 * Test databases: each test file clones the migrated template (see scripts/test.js) into its own
 * database and drops it at the end. Tests that only need SQL run inside a transaction that is rolled
 * back (withRootDb); tests that need commits (NOTIFY, workers, races) use the pool directly.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import { Client, Pool, type PoolClient } from "pg";

export type TestDb = { url: string; name: string; pool: Pool };

function adminUrl(): string {
  const url = process.env.BATON_TEST_ADMIN_URL;
  if (!url) throw new Error("Run the tests with `npm test` (it prepares the database and sets BATON_TEST_ADMIN_URL).");
  return url;
}

export function databaseUrl(name: string): string {
  const u = new URL(adminUrl());
  u.pathname = "/" + name;
  return u.toString();
}

async function withAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createTestDatabase(): Promise<TestDb> {
  const name = `baton_test_${randomBytes(6).toString("hex")}`;
  const template = process.env.BATON_TEST_TEMPLATE ?? "baton_template";
  // Cloning needs the template idle; concurrent clones from parallel files can collide, so retry.
  for (let attempt = 0; ; attempt++) {
    try {
      await withAdmin((c) => c.query(`create database "${name}" template "${template}"`));
      break;
    } catch (err) {
      if (attempt >= 50 || !/being accessed by other users/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
  const url = databaseUrl(name);
  const pool = new Pool({ connectionString: url, max: 20 });
  pool.on("error", () => undefined);
  return { url, name, pool };
}

export async function dropTestDatabase(db: TestDb): Promise<void> {
  await db.pool.end().catch(() => undefined);
  await withAdmin((c) => c.query(`drop database if exists "${db.name}" with (force)`));
}

/** A database for this test file, created before its tests and dropped after them. */
export function useTestDatabase(): TestDb {
  const holder = {} as TestDb;
  before(async () => Object.assign(holder, await createTestDatabase()));
  after(async () => dropTestDatabase(holder));
  return holder;
}

/** Runs fn in a transaction that is always rolled back, as the database login (a superuser). */
export async function withRootDb<T>(db: TestDb, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    return await fn(client);
  } finally {
    await client.query("rollback").catch(() => undefined);
    client.release();
  }
}

/** Asserts that a promise rejects with a Baton errcode and a message matching `message`. */
export async function assertDbError(promise: Promise<unknown>, code: string, message: RegExp | string): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { code?: string };
    assert.equal(e.code, code, `expected errcode ${code}, got ${e.code}: ${e.message}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected an error with code ${code}`);
}

/** Runs fn inside a savepoint that is rolled back, so an expected error does not abort the test's transaction. */
export async function inSavepoint<T>(client: PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query("savepoint t");
  try {
    const result = await fn();
    await client.query("release savepoint t");
    return result;
  } catch (err) {
    await client.query("rollback to savepoint t");
    throw err;
  }
}
