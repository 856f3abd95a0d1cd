import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { signJwt } from "../../auth/jwt";
import { loadJwtSecret } from "../../auth/secret";
import { withAdminDb } from "../admin-db";
import { output, parseId, UsageError, type CommonOptions } from "../context";

/** 90s, 15m, 12h, 30d, 2w */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!m) throw new UsageError(`--ttl must be a number and a unit s, m, h, d or w, such as 12h or 30d (got "${text}").`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as "s" | "m" | "h" | "d" | "w"];
  return Number(m[1]) * unit;
}

const Role = z.enum(["user", "daemon"]);

export function register(token: Command): void {
  token
    .command("create")
    .description("Mint a token for an owner (admin: uses the database directly).")
    .requiredOption("--owner <id>", "the owner id")
    .option("--role <role>", "user or daemon", "user")
    .option("--daemon <id>", "the daemon id (required with --role daemon)")
    .option("--ttl <duration>", "lifetime such as 12h or 30d (default: no expiry)")
    .option("--json", "print machine-readable JSON on stdout")
    .addHelpText("after", "\nExample:\n  baton token create --owner $OWNER --role user --ttl 30d")
    .action(async (opts: CommonOptions & { owner: string; role: string; daemon?: string; ttl?: string }) => {
      const owner = parseId(opts.owner, "--owner");
      const role = Role.safeParse(opts.role);
      if (!role.success) throw new UsageError(`--role must be user or daemon (got "${opts.role}").`);
      if (role.data === "daemon" && !opts.daemon) throw new UsageError("--role daemon needs --daemon ID (the daemon the token acts for).");
      const daemon = opts.daemon ? parseId(opts.daemon, "--daemon") : undefined;
      const exp = opts.ttl ? Math.floor(Date.now() / 1000) + parseDuration(opts.ttl) : undefined;
      await withAdminDb(async (c) => {
        const found = await c.query("select 1 from baton.owners where id = $1", [owner]);
        if (found.rowCount === 0) throw Object.assign(new Error(`Owner ${owner} does not exist. Create one with \`baton owner create NAME\`.`), { code: "BTNFD" });
        if (daemon) {
          const d = await c.query("select 1 from baton.daemons where id = $1 and owner_id = $2", [daemon, owner]);
          if (d.rowCount === 0) throw Object.assign(new Error(`Daemon ${daemon} does not exist for owner ${owner}.`), { code: "BTNFD" });
        }
      });
      const secret = loadJwtSecret(path.resolve(process.env.BATON_DATA_DIR || "./.baton"), process.env.BATON_JWT_SECRET);
      const claims = { role: `baton_${role.data}`, owner_id: owner, ...(daemon ? { daemon_id: daemon } : {}), aud: "baton", iss: "baton", ...(exp ? { exp } : {}) };
      const tokenText = signJwt(claims, secret);
      output(opts, { token: tokenText, claims }, tokenText);
    });
}
