/*
 * The pg pools of a process. `createPool` is the admin pool, shared by migrations and graphile-worker
 * (STACK.md: size it for worker concurrency + LISTEN clients); its login may be a superuser.
 * `createApiPool` is PostGraphile's: its connections start as baton_anonymous, so a request runs as a
 * role that is no superuser and owns no table (RLS always applies), and one that somehow carried no
 * role setting is anonymous, never the login. Errors on idle clients are logged instead of crashing
 * the process when PostgreSQL restarts.
 */
import { Pool, type PoolConfig } from "pg";
import type { Logger } from "../logger";

/** The role every API connection starts as; requests switch from it to their token's role. */
export const API_CONNECTION_ROLE = "baton_anonymous";

export function createPool(connectionString: string, logger: Logger, max = 20): Pool {
  return withErrorLogging(new Pool({ connectionString, max, application_name: "baton" }), logger);
}

/** PostGraphile's pool: every connection starts as API_CONNECTION_ROLE (a startup option, so a connection that cannot take the role fails instead of running as the login). */
export function createApiPool(connectionString: string, logger: Logger, max = 20): Pool {
  return withErrorLogging(new Pool({ ...restrictedConnection(connectionString), max, application_name: "baton-api" }), logger);
}

/** Fails the server's start when API connections do not run as the restricted role. */
export async function assertApiPoolRestricted(pool: Pool): Promise<void> {
  const r = await pool.query<{ role: string; superuser: boolean }>(
    "select current_user as role, (select rolsuper from pg_catalog.pg_roles where rolname = current_user) as superuser",
  );
  const row = r.rows[0];
  if (!row || row.role !== API_CONNECTION_ROLE || row.superuser) {
    throw new Error(
      `API database connections run as ${row?.role ?? "nobody"}, not ${API_CONNECTION_ROLE}; the database login must be a member of baton_api (run \`baton migrate\` as that login, or \`grant baton_api to <login>\`).`,
    );
  }
}

/*
 * pg lets options in the connection string override `options` given beside it, so the role goes into
 * the URL's own `options` (after any the operator gave). A non-URL connection string cannot carry it;
 * there the config option is used and assertApiPoolRestricted catches an override.
 */
function restrictedConnection(connectionString: string): PoolConfig {
  const option = `-c role=${API_CONNECTION_ROLE}`;
  try {
    const url = new URL(connectionString);
    const given = url.searchParams.get("options");
    url.searchParams.set("options", given ? `${given} ${option}` : option);
    return { connectionString: url.toString() };
  } catch {
    return { connectionString, options: option };
  }
}

function withErrorLogging(pool: Pool, logger: Logger): Pool {
  pool.on("error", (err) => logger.warn("idle database client failed", { error: err.message }));
  pool.on("connect", (client) => {
    client.on("error", (err) => logger.warn("database client failed", { error: err.message }));
  });
  return pool;
}
