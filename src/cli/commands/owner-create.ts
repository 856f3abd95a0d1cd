import type { Command } from "commander";
import { signJwt } from "../../auth/jwt";
import { loadJwtSecret } from "../../auth/secret";
import { withAdminDb } from "../admin-db";
import { output, type CommonOptions } from "../context";
import path from "node:path";

export function register(owner: Command): void {
  owner
    .command("create")
    .argument("<name>", "the owner's name (1-200 characters)")
    .description("Create an owner (admin: uses the database directly) and print its id and a user token.")
    .option("--json", "print machine-readable JSON on stdout")
    .addHelpText("after", `\nExample:\n  DATABASE_URL=postgres://localhost/baton baton owner create "Team Blue"`)
    .action(async (name: string, opts: CommonOptions) => {
      const row = await withAdminDb((c) => c.query<{ id: string; name: string }>("select id, name from baton.create_owner($1)", [name]));
      const o = row.rows[0]!;
      const secret = loadJwtSecret(path.resolve(process.env.BATON_DATA_DIR || "./.baton"), process.env.BATON_JWT_SECRET);
      const token = signJwt({ role: "baton_user", owner_id: o.id, aud: "baton", iss: "baton" }, secret);
      output(opts, { owner_id: o.id, name: o.name, token }, `${o.id}\n${token}`);
    });
}
