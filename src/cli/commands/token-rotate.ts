/*
 * `baton token rotate`: every token of the owner dies (its own, its daemons', its agents'), and a
 * fresh owner token is printed. Through the API with the current owner token; with --owner ID, as an
 * admin straight on the database (for an owner whose token is lost or leaked). When the token came
 * from the local server's credentials.json, that file gets the new one.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { signClaimsRow } from "../../auth/mint";
import { unverifiedClaims } from "../../auth/unverified-claims";
import { adminJwtSecret, withAdminDb } from "../admin-db";
import { RotateTokensDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, output, parseId, type CommonOptions } from "../context";

const Credentials = z.object({ api_url: z.string(), token: z.string(), owner_id: z.string().optional() }).passthrough();

function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(path.resolve(env.BATON_DATA_DIR || "./.baton"), "credentials.json");
}

/** The local credentials.json when the CLI would take its token from it (no --token, no BATON_TOKEN). */
function localCredentials(opts: CommonOptions): { file: string; credentials: z.infer<typeof Credentials> } | undefined {
  if (opts.token || process.env.BATON_TOKEN) return undefined;
  const file = credentialsFile();
  try {
    const parsed = Credentials.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
    return parsed.success ? { file, credentials: parsed.data } : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces credentials.json whole (temp file, mode 0600, rename), so no reader sees half of it. */
function rewriteCredentials(file: string, credentials: z.infer<typeof Credentials>, token: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, JSON.stringify({ ...credentials, token }, null, 2) + "\n", { mode: 0o600 });
  fs.renameSync(temp, file);
}

const expiresAt = (token: string) => {
  const { exp } = unverifiedClaims(token);
  return typeof exp === "number" && Number.isFinite(exp) ? new Date(exp * 1000).toISOString() : null;
};

export function register(token: Command): void {
  addCommonOptions(
    token
      .command("rotate")
      .description("Revoke every token of your owner (yours, your daemons' and your agents') and print a fresh owner token (valid 30 days).")
      .option("--owner <id>", "admin: rotate this owner's tokens straight on the database (DATABASE_URL or the local server's data dir) and sign with the server's secret")
      .addHelpText(
        "after",
        "\nRunning daemons stop working: start them again with the new token.\nWhen the token came from the local server's credentials.json, the new token is written there.\n\nExamples:\n  baton token rotate\n  BATON_DATA_DIR=/srv/baton baton token rotate --owner 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f",
      ),
  ).action(async (opts: CommonOptions & { owner?: string }) => {
    let fresh: string;
    let local: ReturnType<typeof localCredentials>;
    if (opts.owner !== undefined) {
      const owner = parseId(opts.owner, "--owner");
      const { secret } = adminJwtSecret();
      fresh = await withAdminDb(async (c) => signClaimsRow((await c.query("select * from baton.rotate_tokens($1)", [owner])).rows[0], secret).token);
      local = localCredentials(opts);
      if (local && local.credentials.owner_id !== owner) local = undefined;
    } else {
      local = localCredentials(opts);
      const data = await apiClient(opts).request(RotateTokensDocument, {});
      fresh = present(data.rotateTokens?.result, "the new token");
    }
    if (local) rewriteCredentials(local.file, local.credentials, fresh);
    output(opts, { token: fresh, expires_at: expiresAt(fresh), credentials_file: local ? local.file : null }, fresh);
    process.stderr.write(`baton: every older token of this owner no longer works${local ? `; the new one is in ${local.file}` : ""}.\n`);
  });
}
