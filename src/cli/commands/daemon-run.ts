import os from "node:os";
import path from "node:path";
import { Option, type Command } from "commander";
import { z } from "zod";
import { CredentialsError, readCredentialsFile, normalizeApiUrl } from "../../client/credentials";
import { resolveAgentCommand } from "../../daemon/agent-command";
import { AGENT_NAMES, AGENT_PRESETS, AgentPresetError, resolveAgent } from "../../daemon/agent-presets";
import { AGENT_OUTPUTS } from "../../daemon/usage-reader";
import { checkAgentEnvNames } from "../../daemon/agent-env";
import { openWorkDirTo, resolveAgentUser } from "../../daemon/agent-user";
import { Daemon } from "../../daemon/daemon";
import { establishIdentity, IdentityError } from "../../daemon/daemon-identity";
import { DaemonStateError, readDaemonState, writeDaemonState } from "../../daemon/daemon-state";
import { RenewableClient, TokenKeeper, type TokenHolder } from "../../daemon/token-renewal";
import { checkWorkDir, DEFAULT_WORK_DIR, stateDirFor } from "../../daemon/work-dir";
import { createLogger } from "../../logger";
import { UsageError } from "../context";

const Options = z.object({
  agentCommand: z.string().min(1, "must not be empty").optional(),
  agent: z.string().optional(),
  maxTasks: z.coerce.number().int().min(1).max(1000),
  workDir: z.string().min(1),
  stateDir: z.string().min(1).optional(),
  name: z.string().min(1).max(200),
  grace: z.coerce.number().int().min(0).max(3600),
  api: z.string().optional(),
  tokenFile: z.string().min(1).optional(),
  agentEnv: z.array(z.string()).default([]),
  // What this daemon offers (sql/000026): steps naming one of these as their agent come here.
  label: z
    .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, { error: (i) => `a label is 1 to 64 characters (letters, digits, ".", "_", "-" or ":") starting with a letter or digit (got ${JSON.stringify(i.input)})` }))
    .max(32, "at most 32 labels")
    .default([]),
  agentUser: z.string().min(1).optional(),
  agentOutput: z.enum(AGENT_OUTPUTS, { error: (i) => `use ${AGENT_OUTPUTS.slice(0, -1).join(", ")} or ${AGENT_OUTPUTS.at(-1)} (got ${JSON.stringify(i.input)})` }).optional(),
});

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** The API: --api, BATON_API_URL, the local credentials.json, then the state file of an earlier start. */
function resolveApi(flag: string | undefined, env: NodeJS.ProcessEnv, stateDir: string): string {
  const { file, credentials } = readCredentialsFile(env);
  let stored: string | undefined;
  try {
    stored = readDaemonState(stateDir)?.api_url;
  } catch {
    stored = undefined; // reported when the identity is read
  }
  const api = flag || env.BATON_API_URL || credentials?.api_url || stored;
  if (!api) throw new UsageError(`No Baton API given: pass --api URL, set BATON_API_URL, or run \`baton server\` here so it writes ${file}.`);
  try {
    return normalizeApiUrl(api);
  } catch {
    throw new UsageError(`The API address "${api}" is not a URL; use e.g. http://127.0.0.1:4000.`);
  }
}

export function register(daemon: Command): void {
  daemon
    .command("run")
    .description(
      "Run a daemon: take tasks from the server and run CMD for each in a git worktree (or an empty directory). Agents get an allow-listed environment; the daemon keeps a daemon token only.",
    )
    .option("--agent <name>", `run a known agent with its documented non-interactive command line and usage reader: ${AGENT_NAMES.join(", ")} (see below)`)
    .option("--agent-command <cmd>", "any other agent, run through `sh -c` in each task's worktree; it gets the prompt on stdin and in BATON_PROMPT_FILE (a relative script path resolves against the directory the daemon starts in: see below); not with --agent")
    .option("--max-tasks <n>", "how many tasks to run at once", "1")
    .option("--work-dir <dir>", "where clones, worktrees and prompts live; never inside BATON_DATA_DIR", DEFAULT_WORK_DIR)
    .option("--state-dir <dir>", "where the daemon keeps its id and daemon token (mode 0600) (default: <work-dir>/state)")
    .option("--name <name>", "a name shown in status and watch", os.hostname())
    .option("--grace <seconds>", "after SIGTERM, how long an interrupted agent gets before SIGKILL", "10")
    .option("--label <label>", "what this daemon offers, e.g. claude or gpu (repeatable): steps naming it as their agent run only on daemons with it; steps naming none run anywhere", collect)
    .option("--agent-env <name>", "pass this variable of the daemon's environment to agents (repeatable); agents get only PATH, HOME, LANG, TERM, LC_* and BATON_* otherwise", collect)
    .option("--agent-output <format>", "read each agent's usage (tokens, cost) from its stdout and report it: claude-json (Claude Code's -p --output-format json or stream-json), codex-json (Codex's exec --json: tokens, no cost), or text (default: read nothing; with --agent, the preset's reader)")
    .option("--agent-user <user>", "run agents as this user (the daemon must run as root); they cannot read the daemon's files or environment")
    .option("--api <url>", "Baton API URL (default: BATON_API_URL, then the local server's credentials.json, then the state dir)")
    .option("--token-file <path>", "a file (mode 600) holding an owner token (the daemon registers itself) or a daemon token (default: BATON_TOKEN, then credentials.json); needed only until the daemon has stored its own token")
    .addOption(new Option("--token <token>", "refused: a token on the command line is visible to every process (ps)").hideHelp())
    .option("--json", "log as JSON lines (the default; kept for symmetry)")
    .addHelpText(
      "after",
      `
The agent runs in each task's worktree. So that "node examples/agent.js" works as typed, the command's
script (its first word when that is a relative path with a "/", as in ./agent.sh, else its first
argument, as in node agent.js) is made absolute when it is a relative path to a file in the directory where
\`baton daemon run\` starts (the daemon logs the command when it does). Every agent also gets that directory
as BATON_DAEMON_DIR, for commands that need more ('cd "$BATON_DAEMON_DIR" && ...').

The first start registers the daemon with an owner token (--token-file, BATON_TOKEN or credentials.json)
and stores its own daemon token in the state dir; later starts use that, renewing it as it ages.
A token given in BATON_TOKEN stays readable in /proc/<pid>/environ to the daemon's user: prefer
--token-file, and --agent-user where the daemon runs as root.

With --agent-output claude-json the daemon reads the final result object Claude Code prints with
--output-format json or stream-json (usage.input_tokens, usage.output_tokens, total_cost_usd) and
reports it as the task's usage when the agent exits, before the task's status; the directive's budget
(--budget-usd/--budget-tokens) counts it. An agent may also report with \`baton task usage\`; reports add up.

--agent runs, in each task's worktree (the agent must be on PATH; pass its API key with --agent-env):
${Object.entries(AGENT_PRESETS).map(([name, p]) => `  ${name.padEnd(6)} ${p.command}   (--agent-output ${p.output})`).join("\n")}
aider reads the prompt from BATON_PROMPT_FILE (it documents no way to read it from stdin) and prints
no machine-readable usage. For other flags (a model, wider permissions), use --agent-command.

Examples:
  baton daemon run --agent claude --agent-env ANTHROPIC_API_KEY
  baton daemon run --agent-command "node examples/agent.js" --max-tasks 2
  baton daemon run --agent-command 'claude -p --dangerously-skip-permissions' --work-dir ~/baton-work --agent-env ANTHROPIC_API_KEY
  baton daemon run --agent-output claude-json --agent-env ANTHROPIC_API_KEY \\
    --agent-command 'claude -p --output-format json --dangerously-skip-permissions'
  sudo baton daemon run --agent-command 'claude -p' --token-file ~/.baton-owner-token --agent-user baton-agent`,
    )
    .action(async (raw: Record<string, unknown>) => {
      if (raw.token !== undefined) {
        throw new UsageError("baton daemon run does not take --token (command lines are visible to every process on the machine); put the token in a file with mode 600 and pass --token-file PATH, or set BATON_TOKEN.");
      }
      const parsed = Options.safeParse(raw);
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        throw new UsageError(`--${String(i.path[0]).replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}: ${i.message}.`);
      }
      const opts = parsed.data;
      let agent;
      try {
        agent = resolveAgent(opts);
      } catch (err) {
        if (err instanceof AgentPresetError) throw new UsageError(err.message);
        throw err;
      }
      const workDir = checkWorkDir(opts.workDir);
      const stateDir = stateDirFor(workDir, opts.stateDir);
      const agentEnv = checkAgentEnvNames(opts.agentEnv, process.env);
      const agentUser = opts.agentUser ? resolveAgentUser(opts.agentUser) : undefined;
      const apiUrl = resolveApi(opts.api, process.env, stateDir);
      const logger = createLogger((process.env.BATON_LOG_LEVEL as "info") || "info");
      // Once, here: every task runs the same command, in its own worktree. A preset's words are options, not scripts.
      const agentCommand = agent.preset ? { command: agent.command, changed: false, missing: undefined } : resolveAgentCommand(agent.command, process.cwd());
      if (agent.preset) logger.info(`the agent preset ${agent.preset} runs`, { agent_command: agent.command, agent_output: agent.output });
      if (agentCommand.changed) logger.info("the agent command's script resolves against the daemon's directory", { agent_command: agentCommand.command });
      if (agentCommand.missing) {
        logger.warn("the agent command names a script that is not here, so it runs as written in each task's worktree; start the daemon in the directory the path is relative to, or give an absolute path", { agent_command: agentCommand.command, not_found: agentCommand.missing });
      }
      if (process.env.BATON_TOKEN && !agentUser) {
        logger.warn(
          "BATON_TOKEN stays readable in /proc/<pid>/environ to every process of this user, agents included; use --token-file (the daemon stores its own token after the first start), or --agent-user",
          { pid: process.pid },
        );
      }

      // Signals are handled from here on: a SIGTERM while registering or starting waits for that step, then stops cleanly.
      let stopping = false;
      let daemon: Daemon | undefined;
      let keeper: TokenKeeper | undefined;
      let started: () => void = () => undefined;
      const ready = new Promise<void>((r) => (started = r));
      let stopDaemon: (why: Record<string, string>) => void = () => undefined;
      const stopped = new Promise<void>((resolve) => {
        const stop = (why: Record<string, string>) => {
          if (stopping) return;
          stopping = true;
          logger.info("stopping the daemon", why);
          keeper?.stop();
          void ready.then(() => daemon?.stop()).then(resolve);
        };
        process.once("SIGINT", () => stop({ signal: "SIGINT" }));
        process.once("SIGTERM", () => stop({ signal: "SIGTERM" }));
        stopDaemon = stop;
      });

      let identity;
      try {
        identity = await establishIdentity({ apiUrl, stateDir, tokenFile: opts.tokenFile, env: process.env, name: opts.name, maxTasks: opts.maxTasks, logger, isStopping: () => stopping });
      } catch (err) {
        started();
        if (stopping) return stopped;
        if (err instanceof IdentityError || err instanceof DaemonStateError || err instanceof CredentialsError) throw new UsageError(err.message);
        throw err;
      }
      // The owner's token is not kept: nothing below sees it, and children (git, agents) never get it.
      delete process.env.BATON_TOKEN;

      if (agentUser) openWorkDirTo(workDir);
      const { daemon_id: daemonId } = identity;
      const holder: TokenHolder = { token: identity.token };
      daemon = new Daemon({
        apiUrl,
        daemonId,
        client: new RenewableClient(apiUrl, holder),
        agentCommand: agentCommand.command,
        maxTasks: opts.maxTasks,
        workDir,
        name: opts.name,
        graceMs: opts.grace * 1000,
        batonBin: path.resolve(__dirname, "..", "..", "..", "bin", "baton.js"),
        logger,
        heartbeatMs: Number(process.env.BATON_HEARTBEAT_MS) || 10_000,
        agentEnv,
        agentUser,
        agentOutput: agent.output,
        labels: opts.label,
      });
      keeper = new TokenKeeper({
        apiUrl,
        daemonId,
        holder,
        persist: (token) => writeDaemonState(stateDir, { ...identity, token }),
        logger,
        onRefused: (message) => {
          process.exitCode = 1;
          stopDaemon({ reason: `the daemon token was refused (${message}); start the daemon again with an owner token (--token-file) to register anew` });
        },
      });
      try {
        await daemon.start();
      } finally {
        started();
      }
      if (!stopping) keeper.start();
      await stopped;
    });
}
