/*
 * Where the CLI and daemon find the API and a token: flags, then BATON_API_URL / BATON_TOKEN, then the
 * credentials file that `baton server` writes for its local owner (BATON_DATA_DIR/credentials.json).
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { sharedMode } from "../auth/private-file";

const CredentialsFile = z.object({ api_url: z.string().url(), token: z.string().min(1), owner_id: z.string().optional() });

export class CredentialsError extends Error {}

export type Endpoint = { apiUrl: string; token: string | undefined };

/** Accepts http://host:port or http://host:port/graphql. */
export function normalizeApiUrl(url: string): string {
  const u = new URL(url);
  if (!u.pathname.endsWith("/graphql")) u.pathname = u.pathname.replace(/\/+$/, "") + "/graphql";
  return u.toString();
}

/** BATON_DATA_DIR/credentials.json (the local owner's API address and token), when it is there and well-formed. */
export function readCredentialsFile(env: NodeJS.ProcessEnv = process.env): { file: string; credentials: z.infer<typeof CredentialsFile> | undefined } {
  const file = path.join(path.resolve(env.BATON_DATA_DIR || "./.baton"), "credentials.json");
  let credentials: z.infer<typeof CredentialsFile> | undefined;
  if (fs.existsSync(file)) {
    try {
      const parsed = CredentialsFile.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
      if (parsed.success) credentials = parsed.data;
    } catch {
      credentials = undefined; // half-written or not JSON: as if absent
    }
  }
  return { file, credentials };
}

/**
 * A token kept in a file (`--token-file`): it must be a regular file that only its owner can read,
 * since anyone who reads it acts as its subject. Surrounding whitespace is ignored.
 */
export function readTokenFile(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new CredentialsError(`--token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
  if (!st.isFile()) throw new CredentialsError(`--token-file ${file} is not a regular file.`);
  const mode = sharedMode(st);
  if (mode) {
    throw new CredentialsError(`--token-file ${file} is readable by others (mode ${mode}); a token file must be mode 600: run chmod 600 ${file}.`);
  }
  const token = fs.readFileSync(file, "utf8").trim();
  if (!token) throw new CredentialsError(`--token-file ${file} is empty; write the token into it.`);
  return token;
}

export function resolveEndpoint(flags: { api?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): Endpoint {
  const { file, credentials: fromFile } = readCredentialsFile(env);
  const api = flags.api || env.BATON_API_URL || fromFile?.api_url;
  if (!api) {
    throw new CredentialsError(
      `No Baton API given: pass --api URL, set BATON_API_URL, or run \`baton server\` here so it writes ${file}.`,
    );
  }
  let apiUrl: string;
  try {
    apiUrl = normalizeApiUrl(api);
  } catch {
    throw new CredentialsError(`The API address "${api}" is not a URL; use e.g. http://127.0.0.1:4000.`);
  }
  return { apiUrl, token: flags.token || env.BATON_TOKEN || fromFile?.token };
}
