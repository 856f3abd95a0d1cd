/*
 * Questions with the real server, daemon and CLI (issue 12 point 2): a scripted agent runs `baton ask`
 * with its own BATON_TOKEN and blocks; its task shows as waiting and the owner sees the question in
 * `baton directive questions` and `directive status`; `baton directive answer` (after an answer that is
 * not among the choices is refused) releases it, and the agent prints the answer. An agent that asks
 * with a short --timeout gets exit 1 and the message once the server's sweep expires the question.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BATON_BIN, baseEnv, cli, cliJson, cliOk, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

// The step's description (in the prompt) says how to ask; what `baton ask` printed and its exit code go to the task's output.
const AGENT = `#!/bin/sh
prompt=$(cat)
case "$prompt" in
  *MODE=timeout*)
    "${process.execPath}" "${BATON_BIN}" ask "Shall I wait?" --timeout 1s 2> "$PWD/ask.err"
    echo "ask exited $?: $(cat "$PWD/ask.err")" ;;
  *)
    answer=$("${process.execPath}" "${BATON_BIN}" ask "Which database should the cache use?" --choice Postgres --choice SQLite) || exit 3
    echo "the answer was: $answer" ;;
esac
`;

type OpenQuestion = { rowId: string; taskId: string; question: string; choices: string[] | null; status: string; step: { name: string } };

const output = async (taskId: string) =>
  (await e2e.db.pool.query<{ text: string }>("select coalesce(string_agg(text, '' order by seq), '') as text from baton.task_output where task_id = $1", [taskId])).rows[0]!.text;

describe("baton ask and baton directive answer", () => {
  it("the agent blocks until the owner answers, then prints the answer; a short --timeout exits 1 with the message", async () => {
    const server = await startServer(e2e, { env: { BATON_SWEEP_MS: "200" } });
    await startDaemon(e2e, server, { agentCommand: writeAgent(e2e, AGENT), maxTasks: 2 });
    const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Asks", "--goal", "Decide with a person"], { env: server.env });
    await cliOk(["directive", "add-step", "decide", "--directive", d.rowId], { env: server.env });
    await cliOk(["directive", "add-step", "impatient", "--description", "MODE=timeout", "--directive", d.rowId], { env: server.env });
    await cliOk(["directive", "start", "--directive", d.rowId], { env: server.env });

    // The impatient agent's question expires after 1 s: `ask` exits 1 naming the timeout, and its task goes on.
    const impatient = await waitForE2E(e2e, "the impatient step to complete", async () => {
      const r = await e2e.db.pool.query<{ task: string }>(
        "select s.current_task_id as task from baton.directive_steps s where s.directive_id = $1 and s.name = 'impatient' and s.status = 'completed'",
        [d.rowId],
      );
      return r.rows[0]?.task;
    });
    const expired = await e2e.db.pool.query("select status from baton.questions where task_id = $1", [impatient]);
    assert.deepEqual(expired.rows, [{ status: "expired" }]);
    assert.match(
      await output(impatient),
      /^ask exited 1: baton: Question [0-9a-f-]{36} was not answered within 1s \(--timeout\), so it expired\. Decide without the answer and say so in your work, or ask again with a longer --timeout\.\n$/,
    );

    // The other agent waits: its question is listed, its task is waiting.
    const asked = await waitForE2E(e2e, "the question to be listed", async () => {
      const qs = await cliJson<OpenQuestion[]>(["directive", "questions", d.rowId], { env: server.env });
      return qs.length === 1 && qs[0];
    });
    assert.deepEqual([asked.question, asked.choices, asked.status, asked.step.name], ["Which database should the cache use?", ["Postgres", "SQLite"], "open", "decide"]);
    assert.equal((await e2e.db.pool.query("select status from baton.tasks where id = $1", [asked.taskId])).rows[0].status, "waiting");
    const listed = await cliOk(["directive", "questions"], { env: server.env });
    assert.match(listed, new RegExp(`^${asked.rowId}  decide  in "Asks"  asked \\d+[ms]\\d*s? ago\\n    Which database should the cache use\\?\\n    choices: "Postgres", "SQLite"\\n    answer: baton directive answer ${asked.rowId} "Postgres"\\n$`));
    const status = await cliOk(["directive", "status", "--directive", d.rowId], { env: server.env });
    assert.match(status, /\n[0-9a-f-]{36}  execution waiting  e2e-daemon-\S+  its agent asked a question \(below\)\n/);
    assert.match(status, new RegExp(`\\nOpen questions \\(answer with \`baton directive answer QUESTION_ID "TEXT"\`\\):\\n${asked.rowId}  decide  asked `));

    // An answer that is not a choice is refused with the choices; the agent still waits.
    const wrong = await cli(["directive", "answer", asked.rowId, "MySQL"], { env: server.env });
    assert.deepEqual([wrong.code, wrong.stdout, wrong.stderr], [1, "", `baton: The answer "MySQL" is not one of the choices of question ${asked.rowId}; answer with one of: "Postgres", "SQLite".\n`]);
    assert.equal((await e2e.db.pool.query("select status from baton.tasks where id = $1", [asked.taskId])).rows[0].status, "waiting");

    const answered = await cliOk(["directive", "answer", asked.rowId, "postgres"], { env: server.env });
    assert.equal(answered, `Answered question ${asked.rowId} (decide): Postgres. Its agent goes on.\n`);
    await waitForE2E(e2e, "the decide step to complete", async () => {
      const r = await e2e.db.pool.query("select 1 from baton.directive_steps where id = (select step_id from baton.tasks where id = $1) and status = 'completed'", [asked.taskId]);
      return r.rowCount === 1;
    });
    assert.equal(await output(asked.taskId), "the answer was: Postgres\n");
    assert.equal(await cliOk(["directive", "questions", d.rowId], { env: server.env }), `No open questions in directive ${d.rowId}.\n`);
  });

  it("refuses bad arguments before asking anything (exit 2, one line saying what to do)", async () => {
    const env = { ...baseEnv(), BATON_API_URL: "http://127.0.0.1:9", BATON_TOKEN: "unused" };
    const task = "3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f";
    const cases: [string[], string][] = [
      [["ask", "Which?"], "baton: No task given: pass --task ID or set BATON_TASK_ID (the daemon sets it for the agent).\n"],
      [["ask", " ", "--task", task], 'baton: The question is empty: write what you need to know, e.g. baton ask "Which database?".\n'],
      [["ask", "Which?", "--task", task, "--choice", "only"], "baton: Give at least two --choice values (or none, for a free-text answer).\n"],
      [["ask", "Which?", "--task", task, "--timeout", "soon"], 'baton: --timeout must be a duration such as 90s, 30m, 2h or 1h30m, from 1s to 30d (got "soon").\n'],
      [["directive", "answer", "q1", "yes"], 'baton: The question id must be a UUID such as 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f (got "q1"); `baton directive status` lists the ids.\n'],
      [["directive", "answer", task, " "], 'baton: The answer is empty: give its text, e.g. baton directive answer QUESTION_ID "Postgres".\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = await cli(args, { env });
      assert.deepEqual([r.code, r.stdout, r.stderr], [2, "", stderr], args.join(" "));
    }
  });
});
