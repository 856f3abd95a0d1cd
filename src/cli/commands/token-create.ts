import type { Command } from "commander";
import { z } from "zod";
import { mintDaemonToken, mintOwnerToken } from "../../auth/mint";
import { adminJwtSecret, withAdminDb } from "../admin-db";
import { output, parseId, UsageError, type CommonOptions } from "../context";

/** 90s, 15m, 12h, 30d, 2w */
export function parseDuration(text: string): number {
  const m = /^(\d{1,9})\s*([smhdw])$/.exec(text.trim());
  if (!m) throw new UsageError(`--ttl must be a number and a unit s, m, h, d or w, such as 12h or 30d (got "${text}").`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as "s" | "m" | "h" | "d" | "w"];
  const seconds = Number(m[1]) * unit;
  if (seconds <= 0) throw new UsageError(`--ttl must be longer than 0 (got "${text}"); every token expires.`);
  if (seconds > 3650 * 86400) throw new UsageError(`--ttl may be at most 3650d (got "${text}").`);
  return seconds;
}

const Role = z.enum(["user", "daemon"]);

export function register(token: Command): void {
  token
    .command("create")
    .description("Mint a token for an owner or one of its daemons (admin: uses the database directly).")
    .requiredOption("--owner <id>", "the owner id")
    .option("--role <role>", "user or daemon", "user")
    .option("--daemon <id>", "the daemon id (required with --role daemon)")
    .option("--ttl <duration>", "lifetime such as 12h or 30d (default: 30d for user tokens, 1h for daemon tokens)")
    .option("--json", "print machine-readable JSON on stdout")
    .addHelpText(
      "after",
      "\nEvery token expires; `baton token rotate` revokes all of an owner's tokens at once.\nSigns with BATON_JWT_SECRET, else the jwt-secret file of BATON_DATA_DIR (default ./.baton); it never creates one.\n\nExample:\n  baton token create --owner $OWNER --role user --ttl 30d",
    )
    .action(async (opts: CommonOptions & { owner: string; role: string; daemon?: string; ttl?: string }) => {
      const owner = parseId(opts.owner, "--owner");
      const role = Role.safeParse(opts.role);
      if (!role.success) throw new UsageError(`--role must be user or daemon (got "${opts.role}").`);
      if (role.data === "daemon" && !opts.daemon) throw new UsageError("--role daemon needs --daemon ID (the daemon the token acts for).");
      if (role.data === "user" && opts.daemon) throw new UsageError("--daemon goes with --role daemon only.");
      const daemon = opts.daemon ? parseId(opts.daemon, "--daemon") : undefined;
      const ttl = opts.ttl !== undefined ? parseDuration(opts.ttl) : undefined;
      const { secret, source } = adminJwtSecret();
      const minted = await withAdminDb(async (c) => {
        const found = await c.query("select 1 from baton.owners where id = $1", [owner]);
        if (found.rowCount === 0) throw Object.assign(new Error(`Owner ${owner} does not exist. Create one with \`baton owner create NAME\`.`), { code: "BTNFD" });
        if (!daemon) return mintOwnerToken(c, owner, secret, ttl);
        const d = await c.query("select 1 from baton.daemons where id = $1 and owner_id = $2", [daemon, owner]);
        if (d.rowCount === 0) throw Object.assign(new Error(`Daemon ${daemon} does not exist for owner ${owner}.`), { code: "BTNFD" });
        return mintDaemonToken(c, daemon, secret, ttl);
      });
      output(
        opts,
        { token: minted.token, claims: minted.claims, expires_at: new Date(Number(minted.claims.exp) * 1000).toISOString(), secret_source: source },
        minted.token,
      );
    });
}
