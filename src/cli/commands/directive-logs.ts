import type { Command } from "commander";
import { DirectiveLogTasksDocument } from "../../client/generated/graphql";
import { rows } from "../../client/results";
import { LIVE_TASK_STATUSES, statusIn, type DirectiveStatus } from "../../statuses";
import { addCommonOptions, apiClient, directiveIdFrom, parseId, UsageError, type CommonOptions } from "../context";
import { chunkJson, followFeed, LinePrinter, LogReader, type LogChunk, type LogTask, type TaskLog } from "../logs-feed";

/** Where following a directive's logs ends: nothing more will run until a person acts. */
const QUIET: readonly DirectiveStatus[] = ["idle", "paused", "archived"];

/** "Write the outline #2" for a step's second attempt, "planner #1" for the directive's first planning task, "integration #1" for an integration's first attempt. */
function labeller(): (info: LogTask) => string {
  let planners = 0;
  return (info) =>
    info.kind === "planning"
      ? `planner #${++planners}`
      : info.kind === "integration"
        ? `integration #${info.attempt ?? "?"}`
        : `${info.step?.name ?? `step ${info.stepId?.slice(0, 8) ?? "?"}`} #${info.attempt ?? "?"}`;
}

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("logs")
      .argument("[directive]", "the directive's id (default: --directive, then BATON_DIRECTIVE_ID)")
      .description(
        "Print the output of every task of a directive, each line prefixed by its step and attempt (\"planner #1\" for planning); --follow streams new output until the directive is idle, paused or archived.",
      )
      .option("--follow", "keep printing new output until the directive is idle, paused or archived (Ctrl-C to stop)")
      .addHelpText(
        "after",
        `
Lines look like "Write the outline #1 | wrote write-the-outline.txt". The stored output comes first,
task by task in the order they were created; with --follow, new output follows as it is written,
interleaved. With --json: an array of chunks {taskId, kind, step, attempt, label, seq, stream, text,
createdAt}, or with --follow one chunk per line. One task's output as written: \`baton task logs TASK\`.

Examples:
  baton directive logs
  baton directive logs $BATON_DIRECTIVE_ID --follow`,
      ),
    { directive: true },
  ).action(async (arg: string | undefined, opts: CommonOptions & { follow?: boolean }) => {
    if (arg && opts.directive && arg !== opts.directive) {
      throw new UsageError(`Two directives given (${arg} and --directive ${opts.directive}); pass one.`);
    }
    const id = arg ? parseId(arg, "The directive id") : directiveIdFrom(opts);
    const client = apiClient(opts);
    const read = async () => {
      const { directive: d } = await client.request(DirectiveLogTasksDocument, { d: id });
      if (!d) throw Object.assign(new Error(`Directive ${id} does not exist. List your directives with \`baton directive list\`.`), { code: "BTNFD" });
      return { status: d.status, tasks: rows(d.tasks.nodes) };
    };

    const collected: ReturnType<typeof chunkJson>[] = [];
    const printer = new LinePrinter((line) => process.stdout.write(line + "\n"));
    const emit = (t: TaskLog, c: LogChunk) => {
      if (!opts.json) printer.chunk(t, c);
      else if (opts.follow) process.stdout.write(JSON.stringify(chunkJson(t, c, true)) + "\n");
      else collected.push(chunkJson(t, c, true));
    };
    const reader = new LogReader(client, labeller(), emit);
    const live = (t: TaskLog | undefined) => !t || statusIn(t.info.status, LIVE_TASK_STATUSES);
    /** Reads what a task stored since the last read; its last line is complete once it has ended. */
    const catchUpTask = async (taskId: string) => {
      const t = await reader.catchUp(taskId);
      if (t && !live(t)) printer.flush(t);
    };

    // The stored output: every task (labelled in creation order), then its chunks.
    let current = await read();
    for (const info of current.tasks) reader.know(info);
    for (const info of current.tasks) await catchUpTask(info.rowId);

    if (opts.follow) {
      // Tasks seen live (or not seen yet) are read again; the directive's status says when to stop.
      const catchUp = async () => {
        current = await read();
        for (const info of current.tasks) if (live(reader.tasks.get(info.rowId))) await catchUpTask(info.rowId);
        return statusIn(current.status, QUIET);
      };
      await followFeed(client, id, {
        catchUp,
        async onEvents(events) {
          for (const e of events) {
            if (e.subjectType === "task" && e.kind === "output") await reader.fromEvent(e.subjectId, e.outputChunks);
            else if (e.subjectType === "task" && e.kind === "status_changed" && e.toStatus && !statusIn(e.toStatus, LIVE_TASK_STATUSES)) await catchUpTask(e.subjectId);
            else if (e.subjectType === "directive" && e.kind === "status_changed" && e.toStatus && statusIn(e.toStatus, QUIET)) {
              if (await catchUp()) return true;
            }
          }
          return false;
        },
      });
    }

    if (opts.json) {
      if (!opts.follow) process.stdout.write(JSON.stringify(collected, null, 2) + "\n");
      return;
    }
    printer.flush();
    if (current.tasks.length === 0 && reader.tasks.size === 0) process.stderr.write(`Directive ${id} has no tasks yet.\n`);
    if (opts.follow) {
      const running = [...reader.tasks.values()].filter((t) => live(t));
      const more = running.length ? `; ${running.length} task(s) still running: \`baton task logs ${running[0]!.info.rowId} --follow\`` : "";
      process.stderr.write(`Directive ${id} is ${current.status}${more}.\n`);
    }
  });
}
