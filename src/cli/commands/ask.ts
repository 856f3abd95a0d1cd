/*
 * `baton ask "QUESTION" [--choice C]... [--timeout DUR]`: an agent asks its owner and waits (issue 12
 * point 2). It runs inside the agent with the agent's token (BATON_TOKEN) and task (BATON_TASK_ID).
 * askQuestion makes the task `waiting`; the command then follows the directive's event feed (every
 * question change records an event, which NOTIFYs it) and re-reads its question on each event until it
 * is no longer open. A poll every few seconds backs the feed up: graphql-ws does not acknowledge a
 * subscription, so a change between asking and the server listening, or during a reconnect, would
 * otherwise be missed (as `directive watch` does).
 *
 * Exit: 0 with the answer on stdout; 1 with one line on stderr when the question expired (its
 * --timeout, enforced by the server's sweep), was cancelled (its task ended or moved on) or can no
 * longer be read (its task ended). Interrupted (SIGINT/SIGTERM), it withdraws its question first.
 */
import type { Command } from "commander";
import { AskQuestionDocument, CancelQuestionDocument, DirectiveEventsFeedDocument, QuestionStateDocument, type QuestionStateQuery } from "../../client/generated/graphql";
import { GraphQLRequestError, subscribe } from "../../client/graphql";
import { present } from "../../client/results";
import { formatDuration } from "../../duration";
import { cliLimit } from "./directive-limits";
import { addCommonOptions, apiClient, output, parseId, UsageError, type CommonOptions } from "../context";

type AskOptions = CommonOptions & { task?: string; choice?: string[]; timeout?: string };
type QuestionState = NonNullable<QuestionStateQuery["question"]>;

/** How often the question is re-read besides the event feed. */
const POLL_MS = 5000;
/** How long after its deadline the command waits for the server's sweep before giving up itself. */
const SWEEP_GRACE_MS = 60_000;

/** A failed wait: one line on stderr, exit 1 (as for a refused request). */
const failed = (message: string) => new GraphQLRequestError(message, undefined, "graphql");

/** What an agent is told when its question closed without an answer. */
export function unansweredMessage(q: QuestionState, timeoutSeconds: number | null): string {
  if (q.status === "expired") {
    const limit = timeoutSeconds === null ? "its timeout" : `${formatDuration(timeoutSeconds)} (--timeout)`;
    return `Question ${q.rowId} was not answered within ${limit}, so it expired. Decide without the answer and say so in your work, or ask again with a longer --timeout.`;
  }
  const why = q.task && q.task.status !== "running" && q.task.status !== "waiting" ? ` because its task is ${q.task.status}${q.task.error ? ` (${q.task.error})` : ""}` : "";
  return `Question ${q.rowId} was cancelled${why}; no answer will come. Decide without it, or ask again.`;
}

export function register(program: Command): void {
  addCommonOptions(
    program
      .command("ask")
      .argument("<question>", "what the agent needs to know")
      .description("From an agent: ask the directive's owner a question, wait for the answer and print it.")
      .option("--choice <answer>", "an answer the owner must pick from (repeat: --choice A --choice B)", (v: string, prev: string[] = []) => [...prev, v])
      .option("--timeout <duration>", "give up after this long, e.g. 30m or 1h30m (default: wait until answered)")
      .option("--task <id>", "the asking task (default: BATON_TASK_ID, set in the agent's environment)")
      .addHelpText(
        "after",
        `
Run it inside the agent: it uses the agent's BATON_TOKEN and BATON_TASK_ID. The task shows as
\`waiting\` and the owner sees the question in \`baton directive questions\` (and the \`question\` webhook
event); \`baton directive answer QUESTION_ID "TEXT"\` answers it. The answer is printed on stdout
(exit 0) and the task runs again. With --choice the answer is one of the choices.

Without an answer in time (--timeout), or when the question is cancelled, it exits 1 with the reason
on stderr: decide without the answer, or ask again. While it waits the step's stall limit does not
apply, but its wall-clock timeout keeps counting.

Examples:
  answer=$(baton ask "Which database should the cache use?" --choice Postgres --choice SQLite --timeout 30m)
  baton ask "May I delete the legacy/ directory?" --json`,
      ),
  ).action(async (question: string, opts: AskOptions) => {
    const raw = opts.task ?? process.env.BATON_TASK_ID;
    if (!raw) throw new UsageError("No task given: pass --task ID or set BATON_TASK_ID (the daemon sets it for the agent).");
    const taskId = parseId(raw, "The task id");
    if (!question.trim()) throw new UsageError("The question is empty: write what you need to know, e.g. baton ask \"Which database?\".");
    const timeout = opts.timeout === undefined ? null : cliLimit(opts.timeout, "--timeout");
    const choices = opts.choice ?? null;
    if (choices && choices.length < 2) throw new UsageError("Give at least two --choice values (or none, for a free-text answer).");

    const api = apiClient(opts);
    const asked = present((await api.request(AskQuestionDocument, { task: taskId, question, choices, timeout })).askQuestion?.result, "the new question");
    const q = await waitForClose(api, asked.rowId, asked.directiveId, asked.expiresAt);
    if (q.status === "answered" && q.answer !== null) {
      output(opts, q, q.answer);
      return;
    }
    if (opts.json) process.stdout.write(JSON.stringify(q, null, 2) + "\n");
    throw failed(unansweredMessage(q, timeout));
  });
}

/** Resolves with the question once it is no longer open; withdraws it if this process is interrupted. */
async function waitForClose(api: ReturnType<typeof apiClient>, id: string, directiveId: string, expiresAt: string | null): Promise<QuestionState> {
  const ws = api.websocket();
  let stopped = false;
  let settle!: (q: QuestionState | Error) => void;
  const result = new Promise<QuestionState | Error>((resolve) => (settle = resolve));
  const deadline = expiresAt ? Date.parse(expiresAt) + SWEEP_GRACE_MS : null;

  // One read at a time, in order: each read settles when the question is closed.
  let reading: Promise<void> = Promise.resolve();
  const check = () =>
    (reading = reading.then(async () => {
      if (stopped) return;
      try {
        const { question: q } = await api.request(QuestionStateDocument, { id });
        if (!q) {
          return settle(failed(`Question ${id} can no longer be read: its task ended (agent tokens stop working when their task ends), so no answer will come.`));
        }
        if (q.status !== "open") return settle(q);
        // The server's sweep expires it; if no worker runs the sweep, stop waiting well after the deadline.
        // Withdrawn past its deadline, the server marks it expired (sql/000031); report the row as it is.
        if (deadline !== null && Date.now() > deadline) {
          const closed = (await api.request(CancelQuestionDocument, { id })).cancelQuestion?.result;
          return settle(closed ? { ...q, ...closed } : q);
        }
      } catch (err) {
        // A network hiccup: the next event or poll reads again. Anything else is final.
        if (!(err instanceof GraphQLRequestError && (err.kind === "network" || err.code === "INTERNAL"))) settle(err as Error);
      }
    }));

  const interrupted = (signal: NodeJS.Signals) => {
    stopped = true;
    void api
      .request(CancelQuestionDocument, { id })
      .catch(() => undefined)
      .finally(() => {
        process.stderr.write(`baton: interrupted (${signal}); question ${id} was withdrawn.\n`);
        process.exit(signal === "SIGINT" ? 130 : 143);
      });
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  // Subscribe first, then read, so no change falls in between; resubscribe after a server restart.
  void (async () => {
    while (!stopped) {
      const sub = subscribe(ws, DirectiveEventsFeedDocument, { d: directiveId }, () => {
        check();
        return stopped ? "stop" : undefined;
      });
      await sub.done.catch(() => new Promise((r) => setTimeout(r, 1000)));
      if (!stopped) check();
    }
  })();
  check();
  const poll = setInterval(check, POLL_MS);
  try {
    const r = await result;
    if (r instanceof Error) throw r;
    return r;
  } finally {
    stopped = true;
    clearInterval(poll);
    process.removeListener("SIGINT", interrupted);
    process.removeListener("SIGTERM", interrupted);
    await ws.dispose();
  }
}
