/*
 * The JWT secret: BATON_JWT_SECRET, else the file `jwt-secret` in the data dir (mode 0600), which
 * only `baton server` creates, on its first start, so tokens survive restarts.
 *
 * Creation is atomic: the secret is written to a temp file of its own (O_EXCL, mode 0600) in the same
 * directory, then hard-linked to `jwt-secret`; the link fails if another server got there first, and
 * then both use that one. A secret that is empty, short or readable by group or others is refused
 * with what to do, never used or silently replaced.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { sharedMode } from "./private-file";

export const MIN_SECRET_LENGTH = 32;

/** A secret that cannot be used; the message says what to do. The CLI prints it and exits 1. */
export class SecretError extends Error {
  override name = "SecretError";
}

export type JwtSecret = { secret: string; source: string };

export const secretFile = (dataDir: string) => path.join(dataDir, "jwt-secret");

/**
 * The secret and where it came from. `create` (the server only) makes the file when it is missing;
 * admin commands pass false, so they never mint tokens with a secret the server does not know.
 */
export function resolveJwtSecret(dataDir: string, fromEnv: string | undefined, opts: { create: boolean }): JwtSecret {
  if (fromEnv !== undefined && fromEnv !== "") {
    if (fromEnv.trim().length < MIN_SECRET_LENGTH) {
      throw new SecretError(`BATON_JWT_SECRET must be at least ${MIN_SECRET_LENGTH} characters (it has ${fromEnv.trim().length}); generate one with \`openssl rand -base64 48\`.`);
    }
    return { secret: fromEnv, source: "BATON_JWT_SECRET" };
  }
  const file = secretFile(dataDir);
  if (fs.existsSync(file)) return { secret: readSecretFile(file), source: file };
  if (!opts.create) {
    throw new SecretError(
      `No JWT secret: ${file} does not exist and BATON_JWT_SECRET is not set. Run this where \`baton server\` keeps its data (set BATON_DATA_DIR), or set BATON_JWT_SECRET to the server's secret; a new secret would mint tokens the server refuses.`,
    );
  }
  return { secret: createSecretFile(dataDir, file), source: file };
}

/** The server's secret (created on first start). */
export function loadJwtSecret(dataDir: string, fromEnv: string | undefined): string {
  return resolveJwtSecret(dataDir, fromEnv, { create: true }).secret;
}

function readSecretFile(file: string): string {
  const stat = fs.statSync(file);
  if (!stat.isFile()) throw new SecretError(`The JWT secret ${file} is not a regular file; delete it so \`baton server\` creates a new one.`);
  const mode = sharedMode(stat);
  if (mode) {
    throw new SecretError(
      `The JWT secret ${file} is readable by others (mode ${mode}), so anyone who can read it can forge tokens. Run \`chmod 600 ${file}\`, and if others may have read it, delete it and restart \`baton server\` for a new one (older tokens stop working).`,
    );
  }
  const secret = fs.readFileSync(file, "utf8").trim();
  if (secret.length === 0) {
    throw new SecretError(`The JWT secret ${file} is empty. Delete it and restart \`baton server\` to create a new one (older tokens stop working), or set BATON_JWT_SECRET.`);
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new SecretError(
      `The JWT secret ${file} is ${secret.length} characters; at least ${MIN_SECRET_LENGTH} are required. Delete it and restart \`baton server\` to create a new one (older tokens stop working), or set BATON_JWT_SECRET.`,
    );
  }
  return secret;
}

function createSecretFile(dataDir: string, file: string): string {
  fs.mkdirSync(dataDir, { recursive: true });
  const temp = path.join(dataDir, `.jwt-secret.${process.pid}.${randomBytes(6).toString("hex")}`);
  const secret = randomBytes(48).toString("base64url");
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.writeSync(fd, secret + "\n");
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(temp, file); // fails with EEXIST when another process created the secret first
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return readSecretFile(file);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
