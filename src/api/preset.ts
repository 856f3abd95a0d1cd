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
import { CSRF_HEADER, parseSession, sessionCookieOf } from "./web-session";
import { EnumValuesAsLabelsPlugin } from "./enum-values";
import { InputChecksPlugin } from "./input-checks";
import { BatonSubscriptionsPlugin } from "./subscriptions";

/**
 * The largest request body (HTTP) or websocket message: grafserv's default is 100,000 bytes, below what
 * the SQL accepts (a 100 KiB goal, a 256 KiB output batch, a large plan). 4 MiB leaves room for JSON
 * escaping; the SQL enforces the real limits.
 */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export function makePreset(opts: { pool: Pool; jwtSecret: string; logger: Logger }) {
  // The pool is the API pool (connections start as baton_anonymous, src/db/pool.ts). Introspect as
  // baton_api (a member of every API role), so ungranted internals stay out of the API.
  const pgService = makePgService({ pool: opts.pool, schemas: ["baton"], pubsub: true, pgSettingsForIntrospection: { role: "baton_api" } });
  const preset = {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
    plugins: [BatonSubscriptionsPlugin, InputChecksPlugin, EnumValuesAsLabelsPlugin],
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
      maxRequestLength: MAX_REQUEST_BYTES,
      maskError: makeMaskError(opts.logger),
    },
    grafast: {
      explain: false,
      context(requestContext: Partial<Grafast.RequestContext>) {
        try {
          const token = bearerToken(authorizationOf(requestContext));
          if (token) return { pgSettings: pgSettingsFor(parseToken(token, opts.jwtSecret)) };
          // No Authorization: the dashboard's session cookie, where the gate allowed it (web-session.ts).
          const session = sessionTokenOf(requestContext);
          return { pgSettings: pgSettingsFor(session ? parseSession(session, opts.jwtSecret) : undefined) };
        } catch (err) {
          if (err instanceof TokenError) throw Object.assign(err, { statusCode: 401 });
          throw err;
        }
      },
    },
  } satisfies GraphileConfig.Preset;
  return { preset, pgService };
}

/**
 * The caller's Authorization value: the HTTP header, or the `authorization` connection param of a
 * websocket (any letter case). connectionParams come from the client as any JSON: a value that is not
 * one string (a number, an object, two spellings of the key) is refused rather than read as anonymous.
 */
function authorizationOf(requestContext: Partial<Grafast.RequestContext>): string | undefined {
  const ws = requestContext.ws;
  if (!ws) {
    const header = requestContext.node?.req?.headers?.authorization;
    return typeof header === "string" ? header : undefined;
  }
  const params: unknown = ws.connectionParams;
  if (typeof params !== "object" || params === null || Array.isArray(params)) return undefined;
  const values = Object.entries(params).filter(([key, value]) => key.toLowerCase() === "authorization" && value != null);
  if (values.length === 0) return undefined;
  const value = values[0]![1];
  if (values.length > 1 || typeof value !== "string") {
    throw new TokenError("The authorization connection parameter must be one string, `Bearer <token>`.");
  }
  return value;
}

/**
 * The session cookie's token, when it may stand in for a missing Authorization: on HTTP only with the
 * CSRF header (server.ts refuses a POST without it first), on a websocket whose upgrade came from this
 * server's own Origin (checked at the upgrade in server.ts).
 */
function sessionTokenOf(requestContext: Partial<Grafast.RequestContext>): string | undefined {
  const req = requestContext.ws ? requestContext.ws.request : requestContext.node?.req;
  if (!req) return undefined;
  if (!requestContext.ws && !req.headers[CSRF_HEADER]) return undefined;
  return sessionCookieOf(req);
}
