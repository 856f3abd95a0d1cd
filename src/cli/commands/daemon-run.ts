import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { resolveEndpoint } from "../../client/credentials";
import { Daemon } from "../../daemon/daemon";
import { createLogger } from "../../logger";
import { UsageError, type CommonOptions } from "../context";

const Options = z.object({
  agentCommand: z.string().min(1, "--agent-command must not be empty"),
  maxTasks: z.coerce.number().int().min(1).max(1000),
  workDir: z.string().min(1),
  name: z.string().min(1).max(200),
  grace: z.coerce.number().int().min(0).max(3600),
});

export function register(daemon: Command): void {
  daemon
    .command("run")
    .description("Run a daemon: take tasks from the server and run CMD for each in a git worktree (or an empty directory).")
    .requiredOption("--agent-command <cmd>", "the agent to run through `sh -c`; it gets the prompt on stdin and in BATON_PROMPT_FILE")
    .option("--max-tasks <n>", "how many tasks to run at once", "1")
    .option("--work-dir <dir>", "where clones, worktrees and prompts live", "./.baton/work")
    .option("--name <name>", "a name shown in status and watch", os.hostname())
    .option("--grace <seconds>", "after SIGTERM, how long an interrupted agent gets before SIGKILL", "10")
    .option("--api <url>", "Baton API URL (default: BATON_API_URL, then the local server's credentials.json)")
    .option("--token <token>", "a user token (the daemon registers itself) or a daemon token (default: BATON_TOKEN, then credentials.json)")
    .option("--json", "log as JSON lines (the default; kept for symmetry)")
    .addHelpText(
      "after",
      `\nExamples:\n  baton daemon run --agent-command "node examples/agent.js" --max-tasks 2\n  baton daemon run --agent-command 'claude -p --dangerously-skip-permissions' --work-dir ~/baton-work`,
    )
    .action(async (raw: CommonOptions & Record<string, string>) => {
      const parsed = Options.safeParse(raw);
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        throw new UsageError(`--${String(i.path[0]).replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}: ${i.message}.`);
      }
      const opts = parsed.data;
      const { apiUrl, token } = resolveEndpoint(raw);
      if (!token) throw new UsageError("The daemon needs a token: pass --token, set BATON_TOKEN, or run it where `baton server` wrote credentials.json.");
      const logger = createLogger((process.env.BATON_LOG_LEVEL as "info") || "info");
      const d = new Daemon({
        apiUrl,
        token,
        agentCommand: opts.agentCommand,
        maxTasks: opts.maxTasks,
        workDir: path.resolve(opts.workDir),
        name: opts.name,
        graceMs: opts.grace * 1000,
        batonBin: path.resolve(__dirname, "..", "..", "..", "bin", "baton.js"),
        logger,
        heartbeatMs: Number(process.env.BATON_HEARTBEAT_MS) || 10_000,
      });
      await d.start();
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info("stopping the daemon", { signal });
          void d.stop().then(resolve);
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
    });
}
