/*
 * The `baton` command line. Exit codes: 0 success, 1 a failed operation (one line on stderr),
 * 2 a usage error.
 *
 * The server, worker and migration modules (PostGraphile, graphile-worker) are required inside their
 * actions: loaded eagerly they doubled the start-up time of every other command, which is most of
 * what a `baton directive ...` call costs.
 */
import { Command, CommanderError } from "commander";
import { ConfigError, loadConfig } from "../config";
import { describeDbError } from "../db/errors";
import { GraphQLRequestError } from "../client/graphql";
import { UsageError } from "./context";
import { register as daemonList } from "./commands/daemon-list";
import { register as daemonRevoke } from "./commands/daemon-revoke";
import { register as daemonRun } from "./commands/daemon-run";
import { register as webhookCommands } from "./commands/webhook";
import { register as directiveCreate } from "./commands/directive-create";
import { register as directiveEvents } from "./commands/directive-events";
import { register as directiveGraph } from "./commands/directive-graph";
import { register as directiveList } from "./commands/directive-list";
import { register as directiveLogs } from "./commands/directive-logs";
import { register as directiveStatus } from "./commands/directive-status";
import { register as directiveTransition } from "./commands/directive-transition";
import { register as directiveUpdate } from "./commands/directive-update";
import { register as directiveUpdateGoal } from "./commands/directive-update-goal";
import { register as directiveWatch } from "./commands/directive-watch";
import { register as directiveQuestions } from "./commands/directive-questions";
import { register as directivePlan } from "./commands/directive-plan";
import { register as ask } from "./commands/ask";
import { register as ownerCreate } from "./commands/owner-create";
import { register as stepAdd } from "./commands/step-add";
import { register as stepBatchAdd } from "./commands/step-batch-add";
import { register as stepOverride } from "./commands/step-override";
import { register as stepRemove } from "./commands/step-remove";
import { register as stepSetDeps } from "./commands/step-set-deps";
import { register as taskCancel } from "./commands/task-cancel";
import { register as taskLogs } from "./commands/task-logs";
import { register as taskUsage } from "./commands/task-usage";
import { register as tokenCreate } from "./commands/token-create";
import { register as tokenRotate } from "./commands/token-rotate";
import { register as webLink } from "./commands/web-link";
import { createLogger } from "../logger";

/* require, not import(): under module nodenext a dynamic import() of a .ts file bypasses ts-node. */
const load = {
  server: () => require("../server") as typeof import("../server"),
  worker: () => require("../worker") as typeof import("../worker"),
  connect: () => require("../db/connect") as typeof import("../db/connect"),
  pool: () => require("../db/pool") as typeof import("../db/pool"),
  migrate: () => require("../db/migrate") as typeof import("../db/migrate"),
};

export function buildProgram(): Command {
  const program = new Command("baton")
    .description("Baton: a Postgres-native orchestrator for AI coding agents.")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  program
    .command("server")
    .description("Run the database (DATABASE_URL, else embedded in BATON_DATA_DIR), migrations, the worker and the HTTP server.")
    .addHelpText("after", "\nExample:\n  BATON_PORT=4000 baton server")
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const { startServer } = load.server();
      const server = await startServer(config, logger);
      const stop = async (signal: string) => {
        logger.info("shutting down", { signal });
        await server.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop("SIGINT"));
      process.once("SIGTERM", () => void stop("SIGTERM"));
    });

  program
    .command("migrate")
    .description("Apply pending migrations (graphile-worker's, then sql/) and exit.")
    .option("--json", "print the applied migrations as JSON")
    .addHelpText("after", "\nExample:\n  DATABASE_URL=postgres://localhost/baton baton migrate")
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const [{ openDatabase }, { createPool }, { migrate }] = [load.connect(), load.pool(), load.migrate()];
      const db = await openDatabase(config, logger);
      const pool = createPool(db.url, logger, 2);
      try {
        const { applied } = await migrate(pool, logger);
        if (opts.json) process.stdout.write(JSON.stringify({ applied }) + "\n");
        else process.stdout.write(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(", ")}\n` : "The database is up to date.\n");
      } finally {
        await pool.end();
        await db.stop();
      }
    });

  program
    .command("worker")
    .description("Run only the graphile-worker runner, beside API-only servers (BATON_WORKER=off).")
    .addHelpText("after", "\nExample:\n  DATABASE_URL=postgres://localhost/baton baton worker")
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      if (!config.databaseUrl) throw new Error("`baton worker` needs DATABASE_URL: it joins a database that a `baton server` set up.");
      const [{ createPool }, { migrate }, { startWorker }] = [load.pool(), load.migrate(), load.worker()];
      const pool = createPool(config.databaseUrl, logger, config.workerConcurrency + 4);
      await migrate(pool, logger);
      const runner = await startWorker(pool, { concurrency: config.workerConcurrency, logger, sweepMs: config.sweepMs });
      logger.info("baton worker running", { concurrency: config.workerConcurrency });
      const stop = async () => {
        await runner.stop();
        await pool.end();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop());
      process.once("SIGTERM", () => void stop());
    });

  const directive = program.command("directive").description("Create, steer and watch directives and their steps.");
  for (const add of [directiveCreate, directiveList, directiveStatus, directiveTransition, directiveUpdate, directiveUpdateGoal, stepAdd, stepBatchAdd, stepRemove, stepSetDeps, stepOverride, directiveWatch, directiveGraph, directiveEvents, directiveLogs, directiveQuestions, directivePlan]) {
    add(directive);
  }
  const task = program.command("task").description("Read what a task's agent wrote, or stop it.");
  for (const add of [taskLogs, taskCancel, taskUsage]) add(task);
  ownerCreate(program.command("owner").description("Manage owners (admin: uses the database directly)."));
  const token = program.command("token").description("Mint tokens (admin: uses the database directly) and rotate them.");
  for (const add of [tokenCreate, tokenRotate]) add(token);
  const daemon = program.command("daemon").description("Run, list and revoke the daemons that execute tasks with a coding agent.");
  for (const add of [daemonRun, daemonList, daemonRevoke]) add(daemon);
  ask(program);
  webLink(program.command("web").description("The web dashboard: sign-in links."));
  webhookCommands(program.command("webhook").description("Add, list and remove the webhooks that notify you of your directives' events, and see their deliveries."));

  // Every (sub)command exits 2 on a usage error instead of exiting the process itself.
  const configure = (cmd: Command) => {
    cmd.exitOverride().showHelpAfterError("(run with --help for usage)");
    cmd.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/**
 * `baton directive logs | head`: the reader went away, so there is no one left to print to. Stop
 * quietly, as other command-line tools do, instead of dying on an unhandled EPIPE with a stack trace.
 */
export function exitQuietlyOnClosedStdout(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

export async function main(argv: string[]): Promise<void> {
  exitQuietlyOnClosedStdout();
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    if (err instanceof GraphQLRequestError) {
      process.stderr.write(`baton: ${err.message}\n`);
      process.exit(1);
    }
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`baton: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`baton: ${describeDbError(err)}\n`);
    process.exit(1);
  }
}
