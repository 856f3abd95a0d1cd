/*
 * Who the daemon is, established before it starts: it ends holding a daemon token only.
 *
 * 1. The state file's daemon token (a restart), when it is for this API and the server still takes it.
 * 2. Otherwise the token it was given: --token-file, else BATON_TOKEN, else the local server's
 *    credentials.json. A daemon token is adopted; an owner's token registers a new daemon and mints
 *    its daemon token, and is then dropped.
 * The daemon token is written to the state file (0600) before the daemon starts, so the next start
 * needs no owner token. Tokens never come from argv (`ps` shows every process's arguments).
 */
import os from "node:os";
import { z } from "zod";
import { CredentialsError, readCredentialsFile, readTokenFile } from "../client/credentials";
import { CurrentIdentityDocument, DaemonTokenDocument, RegisterDaemonDocument } from "../client/generated/graphql";
import { GraphQLClient, GraphQLRequestError } from "../client/graphql";
import { present } from "../client/results";
import type { Logger } from "../logger";
import { readDaemonState, writeDaemonState, type DaemonState } from "./daemon-state";

export class IdentityError extends Error {}

export type IdentityInput = {
  apiUrl: string;
  stateDir: string;
  tokenFile?: string;
  env: NodeJS.ProcessEnv;
  name: string;
  maxTasks: number;
  logger: Logger;
  isStopping?: () => boolean;
};

/* currentIdentity is JSON in the schema: its shape is checked here. */
const Identity = z.object({ role: z.string(), daemon_id: z.string().optional() });
type Identity = z.infer<typeof Identity>;

/** The first request waits for the API (a daemon started before its server, after a reboot, by compose). */
async function whoAmI(apiUrl: string, token: string, input: IdentityInput): Promise<Identity> {
  const client = new GraphQLClient(apiUrl, token);
  for (let wait = 500; ; wait = Math.min(wait * 2, 10_000)) {
    try {
      const { currentIdentity } = await client.request(CurrentIdentityDocument, {});
      const parsed = Identity.safeParse(currentIdentity);
      if (!parsed.success) throw new IdentityError(`The Baton API at ${apiUrl} answered an identity this daemon does not understand: ${JSON.stringify(currentIdentity)}.`);
      return parsed.data;
    } catch (err) {
      if (!(err instanceof GraphQLRequestError) || err.kind !== "network" || input.isStopping?.()) throw err;
      input.logger.warn("waiting for the Baton API", { api: apiUrl, error: err.message, retry_ms: wait });
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** The token given to this start, and where it came from (for messages). */
function givenToken(input: IdentityInput): { token: string; source: string } | null {
  if (input.tokenFile) {
    try {
      return { token: readTokenFile(input.tokenFile), source: `--token-file ${input.tokenFile}` };
    } catch (err) {
      if (err instanceof CredentialsError) throw new IdentityError(err.message);
      throw err;
    }
  }
  if (input.env.BATON_TOKEN) return { token: input.env.BATON_TOKEN, source: "BATON_TOKEN" };
  const { file, credentials } = readCredentialsFile(input.env);
  if (credentials) return { token: credentials.token, source: file };
  return null;
}

/** Returns the daemon's id and daemon token, stored in the state dir. */
export async function establishIdentity(input: IdentityInput): Promise<DaemonState> {
  const { apiUrl, stateDir, logger } = input;
  let storedNote = "";
  const stored = readDaemonState(stateDir);
  if (stored && stored.api_url !== apiUrl) {
    logger.warn("the state file belongs to another API; registering anew", { state_dir: stateDir, stored_api: stored.api_url, api: apiUrl });
  } else if (stored) {
    try {
      const me = await whoAmI(apiUrl, stored.token, input);
      const changed = (stored.name ?? input.name) !== input.name || (stored.max_tasks ?? input.maxTasks) !== input.maxTasks;
      if (me.role === "baton_daemon" && me.daemon_id === stored.daemon_id && !changed) {
        logger.info("using the stored daemon identity", { daemon_id: stored.daemon_id, state_dir: stateDir });
        return stored;
      }
      if (me.role === "baton_daemon" && me.daemon_id === stored.daemon_id) {
        // The server keeps a daemon's name and max_tasks from its registration: new ones need a new daemon.
        if (!givenToken(input)) {
          throw new IdentityError(
            `The daemon in ${stateDir} was registered as --name ${JSON.stringify(stored.name)} --max-tasks ${stored.max_tasks}, which the server keeps; start it with those, or give an owner token (--token-file PATH or BATON_TOKEN) to register a new daemon with the new ones.`,
          );
        }
        logger.info("--name or --max-tasks changed; registering a new daemon", { old_daemon_id: stored.daemon_id, name: input.name, max_tasks: input.maxTasks });
      } else {
        // A revoked daemon's token still carries its role, but no daemon id answers to it.
        storedNote = ` (the stored daemon token in ${stateDir} was refused: ${me.role === "baton_daemon" ? "its daemon was revoked or its token is no longer valid" : `it is for ${me.role}`})`;
        logger.warn("the stored daemon token was refused; trying the given token", { role: me.role });
      }
    } catch (err) {
      if (err instanceof IdentityError) throw err;
      // An expired token, or a revoked daemon: fall back to the token given to this start, if any.
      if (!(err instanceof GraphQLRequestError) || (err.kind !== "auth" && err.code !== "BTDNY")) throw err;
      storedNote = ` (the stored daemon token in ${stateDir} was refused: ${err.message})`;
      logger.warn("the stored daemon token was refused; trying the given token", { error: err.message });
    }
  }
  const given = givenToken(input);
  if (!given) {
    throw new IdentityError(
      `The daemon needs a token${storedNote}: give an owner or daemon token with --token-file PATH (mode 600) or BATON_TOKEN, or run it where \`baton server\` wrote credentials.json (BATON_DATA_DIR).`,
    );
  }
  const me = await whoAmI(apiUrl, given.token, input);
  let state: DaemonState;
  if (me.role === "baton_daemon" && me.daemon_id) {
    state = { api_url: apiUrl, daemon_id: me.daemon_id, token: given.token, name: input.name, max_tasks: input.maxTasks };
  } else if (me.role === "baton_user") {
    const owner = new GraphQLClient(apiUrl, given.token);
    const reg = await owner.request(RegisterDaemonDocument, { name: input.name, host: os.hostname(), max: input.maxTasks });
    const daemonId = present(reg.registerDaemon?.result, "the registered daemon").rowId;
    const daemonToken = present((await owner.request(DaemonTokenDocument, { d: daemonId })).daemonToken, "a daemon token");
    state = { api_url: apiUrl, daemon_id: daemonId, token: daemonToken, name: input.name, max_tasks: input.maxTasks };
    logger.info("registered a new daemon with the owner's token; from now on it uses its own daemon token", { daemon_id: daemonId, token_from: given.source });
  } else if (me.role === "baton_daemon") {
    throw new IdentityError(`The daemon token from ${given.source} is no longer valid (its daemon was revoked, or its owner rotated tokens); give an owner token to register a new daemon.`);
  } else {
    throw new IdentityError(`A daemon needs an owner token (to register) or a daemon token; the token from ${given.source} is for ${me.role}.`);
  }
  writeDaemonState(stateDir, state);
  return state;
}
