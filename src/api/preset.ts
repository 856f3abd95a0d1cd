/*
 * The PostGraphile preset: the `baton` schema with amber and simplified inflection, our
 * subscriptions and input checks (text that is not UTF-8), JWT signing for baton.jwt_token, and
 * per-request settings from the caller's token.
 */
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import type { Pool } from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import type {} from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { bearerToken, parseToken, pgSettingsFor } from "../auth/claims";
import { TokenError } from "../auth/jwt";
import type { Logger } from "../logger";
import { makeMaskError } from "./errors";
import { InputChecksPlugin } from "./input-checks";
import { BatonSubscriptionsPlugin } from "./subscriptions";

export function makePreset(opts: { pool: Pool; jwtSecret: string; logger: Logger }) {
  // Introspect as baton_api (every API role at once), so ungranted internals stay out of the API.
  const pgService = makePgService({ pool: opts.pool, schemas: ["baton"], pubsub: true, pgSettingsForIntrospection: { role: "baton_api" } });
  const preset = {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
    plugins: [BatonSubscriptionsPlugin, InputChecksPlugin],
    // Every column can be filtered and ordered on, not only indexed ones: tables are per-owner and small
    // enough, and clients (the CLI among them) need conditions such as tasks by daemon and status.
    disablePlugins: ["PgIndexBehaviorsPlugin"],
    pgServices: [pgService],
    gather: { pgJwtTypes: "baton.jwt_token", installWatchFixtures: false },
    schema: {
      pgJwtSecret: opts.jwtSecret,
      pgJwtSignOptions: { algorithm: "HS256", issuer: "baton" },
      dontSwallowErrors: true,
    },
    grafserv: {
      graphqlPath: "/graphql",
      graphiqlPath: "/graphiql",
      graphiql: true,
      websockets: true,
      // grafserv's default is 100,000 bytes, below what the SQL accepts (a 100 KiB goal, a 256 KiB
      // output batch, a large plan). 4 MiB leaves room for JSON escaping; the SQL enforces the real limits.
      maxRequestLength: 4 * 1024 * 1024,
      maskError: makeMaskError(opts.logger),
    },
    grafast: {
      explain: false,
      context(requestContext: Partial<Grafast.RequestContext>) {
        const raw = requestContext.ws?.normalizedConnectionParams?.authorization ?? requestContext.node?.req?.headers?.authorization;
        try {
          const token = bearerToken(Array.isArray(raw) ? raw[0] : raw);
          return { pgSettings: pgSettingsFor(token ? parseToken(token, opts.jwtSecret) : undefined) };
        } catch (err) {
          if (err instanceof TokenError) throw Object.assign(err, { statusCode: 401 });
          throw err;
        }
      },
    },
  } satisfies GraphileConfig.Preset;
  return { preset, pgService };
}
