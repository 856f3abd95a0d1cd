import type { Command } from "commander";
import { mintOwnerToken } from "../../auth/mint";
import { adminJwtSecret, withAdminDb } from "../admin-db";
import { output, type CommonOptions } from "../context";
import { register as registerOwnerLimits } from "./owner-limits";

export function register(owner: Command): void {
  registerOwnerLimits(owner);
  owner
    .command("create")
    .argument("<name>", "the owner's name (1-200 characters)")
    .description("Create an owner (admin: uses the database directly) and print its id and a user token (valid 30 days).")
    .option("--json", "print machine-readable JSON on stdout")
    .addHelpText(
      "after",
      `\nSigns with BATON_JWT_SECRET, else the jwt-secret file of BATON_DATA_DIR (default ./.baton); it never creates one.\n\nExample:\n  DATABASE_URL=postgres://localhost/baton BATON_DATA_DIR=/srv/baton baton owner create "Team Blue"`,
    )
    .action(async (name: string, opts: CommonOptions) => {
      // The secret first: without it nothing is created (no owner without a token).
      const { secret, source } = adminJwtSecret();
      const result = await withAdminDb(async (c) => {
        await c.query("begin");
        try {
          const o = (await c.query<{ id: string; name: string }>("select id, name from baton.create_owner($1)", [name])).rows[0]!;
          const minted = await mintOwnerToken(c, o.id, secret);
          await c.query("commit");
          return { owner_id: o.id, name: o.name, token: minted.token, expires_at: new Date(Number(minted.claims.exp) * 1000).toISOString(), secret_source: source };
        } catch (err) {
          await c.query("rollback").catch(() => undefined);
          throw err;
        }
      });
      output(opts, result, `${result.owner_id}\n${result.token}`);
    });
}
