/*
 * What every CLI command shares: the API client from --api/--token/env/credentials, the directive id
 * default, zod-checked arguments, and output as text or --json.
 */
import type { Command } from "commander";
import { z } from "zod";
import { CredentialsError, resolveEndpoint } from "../client/credentials";
import { GraphQLClient } from "../client/graphql";

/** A usage error: exit code 2. */
export class UsageError extends Error {}

export type CommonOptions = { api?: string; token?: string; json?: boolean | string; directive?: string };

export function addCommonOptions(cmd: Command, opts: { directive?: boolean; json?: boolean } = {}): Command {
  cmd.option("--api <url>", "Baton API URL (default: BATON_API_URL, then the local server's credentials.json)");
  cmd.option("--token <token>", "API token (default: BATON_TOKEN, then credentials.json)");
  if (opts.json !== false) cmd.option("--json", "print machine-readable JSON on stdout");
  if (opts.directive) cmd.option("--directive <id>", "directive id (default: BATON_DIRECTIVE_ID)");
  return cmd;
}

export function apiClient(opts: CommonOptions): GraphQLClient {
  try {
    const { apiUrl, token } = resolveEndpoint(opts);
    return new GraphQLClient(apiUrl, token);
  } catch (err) {
    if (err instanceof CredentialsError) throw new UsageError(err.message);
    throw err;
  }
}

const Uuid = z.uuid();

export function parseId(value: string | undefined, what: string): string {
  const parsed = Uuid.safeParse(value?.trim());
  if (!parsed.success) {
    throw new UsageError(`${what} must be a UUID such as 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f (got ${JSON.stringify(value ?? "")}); \`baton directive status\` lists the ids.`);
  }
  return parsed.data;
}

export function parseIdList(value: string, what: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => parseId(s, what));
}

export function directiveIdFrom(opts: CommonOptions, env: NodeJS.ProcessEnv = process.env): string {
  const id = opts.directive ?? env.BATON_DIRECTIVE_ID;
  if (!id) throw new UsageError("No directive given: pass --directive ID or set BATON_DIRECTIVE_ID.");
  return parseId(id, "The directive id");
}

/** Prints JSON with --json, else the text. */
export function output(opts: CommonOptions, json: unknown, text: string | (() => string)): void {
  if (opts.json) process.stdout.write(JSON.stringify(json, null, 2) + "\n");
  else process.stdout.write((typeof text === "function" ? text() : text) + "\n");
}
