/*
 * Where the CLI and daemon find the API and a token: flags, then BATON_API_URL / BATON_TOKEN, then the
 * credentials file that `baton server` writes for its local owner (BATON_DATA_DIR/credentials.json).
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";

const CredentialsFile = z.object({ api_url: z.string().url(), token: z.string().min(1), owner_id: z.string().optional() });

export class CredentialsError extends Error {}

export type Endpoint = { apiUrl: string; token: string | undefined };

/** Accepts http://host:port or http://host:port/graphql. */
export function normalizeApiUrl(url: string): string {
  const u = new URL(url);
  if (!u.pathname.endsWith("/graphql")) u.pathname = u.pathname.replace(/\/+$/, "") + "/graphql";
  return u.toString();
}

export function resolveEndpoint(flags: { api?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): Endpoint {
  const dataDir = path.resolve(env.BATON_DATA_DIR || "./.baton");
  const file = path.join(dataDir, "credentials.json");
  let fromFile: z.infer<typeof CredentialsFile> | undefined;
  if (fs.existsSync(file)) {
    const parsed = CredentialsFile.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
    if (parsed.success) fromFile = parsed.data;
  }
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
