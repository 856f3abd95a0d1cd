/*
 * Questions (sql/000025_questions.sql): an agent asks (ask_question), its task goes running -> waiting,
 * the owner (or a DBA's UPDATE) answers and the task runs again; a timeout expires the question
 * (expire_questions); the stall sweep leaves a waiting task alone. The question state machine through
 * a DBA's direct UPDATE, and who may ask, answer and cancel.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, inSavepoint, useTestDatabase, withRootDb } from "../helpers/db";
import { createOwner, jobs } from "../helpers/fixtures";
import { chain, createDaemon, eventsOf, q, setup, startStep, task, transitionMatrix, as, type Token } from "./support";

const db = useTestDatabase();


const fails = (c: PoolClient, sql: string, params: unknown[], code: string, message: string | RegExp) => assertDbError(inSavepoint(c, () => c.query(sql, params)), code, message);

type Question = { id: string; task_id: string; status: string; answer: string | null; choices: string[] | null; answered_at: Date | null; closed_at: Date | null; expires_at: Date | null };

/** A started directive a -> b whose step a runs on the owner's daemon, with its agent's token. */
async function running(c: PoolClient) {
  const { owner, d, s } = await setup(c, chain("a", "b"));
  const daemon = await createDaemon(c, owner);
  const t = await startStep(c, s.a!.id);
  const agent: Token = { role: "baton_agent", owner, directive: d.id, task: t.id };
  return { owner, d: d.id, s, daemon, task: t.id, agent, user: { role: "baton_user", owner } as Token };
}

const ask = (c: PoolClient, taskId: string, question: string, choices: string[] | null = null, timeout: number | null = null) =>
  q<Question>(c, "select * from baton.ask_question($1, $2, $3, $4)", [taskId, question, choices, timeout]);
const answer = (c: PoolClient, id: string, text: string) => q<Question>(c, "select * from baton.answer_question($1, $2)", [id, text]);
const question = (c: PoolClient, id: string) => q<Question>(c, "select * from baton.questions where id = $1", [id]);
const taskStatus = async (c: PoolClient, id: string) => (await task(c, id)).status;
const startedAt = async (c: PoolClient, id: string) => (await q<{ started_at: Date }>(c, "select started_at from baton.tasks where id = $1", [id])).started_at;

describe("asking and answering", () => {
  it("ask makes the task waiting; the owner's answer makes it running again, keeping started_at", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      // An hour ago: within this test's transaction now() never moves, so a re-stamp would go unseen.
      await c.query("update baton.tasks set started_at = started_at - interval '1 hour' where id = $1", [w.task]);
      const before = await startedAt(c, w.task);
      const qn = await as(c, w.agent, () => ask(c, w.task, "Which database?", ["Postgres", "SQLite"]));
      assert.equal(qn.status, "open");
      assert.equal(await taskStatus(c, w.task), "waiting");
      const a = await as(c, w.user, () => answer(c, qn.id, "Postgres"));
      assert.equal(a.status, "answered");
      assert.equal(a.answer, "Postgres");
      assert.ok(a.answered_at && a.closed_at);
      assert.equal(await taskStatus(c, w.task), "running");
      assert.deepEqual(await startedAt(c, w.task), before);
      assert.deepEqual(
        (await eventsOf(c, w.task)).filter((e) => e.kind !== "created").slice(-4).map((e) => [e.kind, e.to_status]),
        [["status_changed", "waiting"], ["question_asked", null], ["question_answered", null], ["status_changed", "running"]],
      );
    }));

  it("refuses an answer that is not among the choices, naming them; a choice matches ignoring case and spaces", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await as(c, w.agent, () => ask(c, w.task, "Which database?", ["Postgres", "SQLite"]));
      await as(c, w.user, () =>
        fails(c, "select baton.answer_question($1, 'MySQL')", [qn.id], "BTINV", `The answer "MySQL" is not one of the choices of question ${qn.id}; answer with one of: "Postgres", "SQLite".`),
      );
      assert.equal(await taskStatus(c, w.task), "waiting");
      assert.equal((await as(c, w.user, () => answer(c, qn.id, "  sqlite "))).answer, "SQLite");
    }));

  it("lets a DBA answer with a plain UPDATE, checked the same way", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await ask(c, w.task, "Delete legacy/?", ["yes", "no"]);
      await fails(c, "update baton.questions set status = 'answered', answer = 'maybe' where id = $1", [qn.id], "BTINV", /^The answer "maybe" is not one of the choices/);
      await c.query("update baton.questions set status = 'answered', answer = 'YES' where id = $1", [qn.id]);
      assert.deepEqual([(await question(c, qn.id)).answer, await taskStatus(c, w.task)], ["yes", "running"]);
    }));

  it("lets a DBA ask with a plain INSERT: owner, directive and step come from the task", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await q<Question & { owner_id: string; directive_id: string; step_id: string }>(
        c, "insert into baton.questions (task_id, question, choices) values ($1, 'Which?', array[' A ', 'B']) returning *", [w.task]);
      assert.deepEqual([qn.owner_id, qn.directive_id, qn.step_id, qn.choices, qn.status], [w.owner, w.d, w.s.a!.id, ["A", "B"], "open"]);
      assert.equal(await taskStatus(c, w.task), "waiting");
      await fails(c, "insert into baton.questions (task_id, question, status, answer) values ($1, 'Which?', 'answered', 'A')", [w.task], "BTINV",
        "A new question is open and has no answer yet; insert it with status open and no answer.");
    }));

  it("keeps the task waiting until its last open question closes", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const q1 = await ask(c, w.task, "First?");
      const q2 = await ask(c, w.task, "Second?");
      await answer(c, q1.id, "one");
      assert.equal(await taskStatus(c, w.task), "waiting");
      await answer(c, q2.id, "two");
      assert.equal(await taskStatus(c, w.task), "running");
    }));

  it("raises the question webhook event with the question and how to answer it", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.add_webhook('https://example.com/hook', array['question'], $1)", [w.owner]);
      const qn = await as(c, w.agent, () => ask(c, w.task, "Which database?", ["Postgres", "SQLite"], 1800));
      const sent = (await jobs(c, "deliver_webhook")).map((j) => JSON.parse(j.payload.body as string));
      assert.equal(sent.length, 1);
      assert.equal(sent[0].type, "question");
      assert.deepEqual(
        { ...sent[0].data, expires_at: undefined },
        { question_id: qn.id, directive_id: w.d, task_id: w.task, step_id: w.s.a!.id, step_name: "a", question: "Which database?", choices: ["Postgres", "SQLite"], expires_at: undefined, answer_with: `baton directive answer ${qn.id} "ANSWER"` },
      );
    }));

  it("refuses a question from a task that is not running, and an answer to a closed question", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await ask(c, w.task, "Go on?");
      await answer(c, qn.id, "yes");
      await fails(c, "select baton.answer_question($1, 'no')", [qn.id], "BTSTS", `Question ${qn.id} is answered, so it cannot be answered; only open questions can.`);
      await c.query("select baton.report_task_status($1, 'completed')", [w.task]);
      await fails(c, "select baton.ask_question($1, 'Still there?')", [w.task], "BTSTS", `Task ${w.task} is completed, so it cannot ask a question; only a running task can.`);
    }));

  it("refuses bad questions and choices with what to do", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await fails(c, "select baton.ask_question($1, '  ')", [w.task], "BTINV", "The question is empty; write what the agent needs to know.");
      await fails(c, "select baton.ask_question($1, 'Which?', array['only'])", [w.task], "BTINV", "A question has 2 to 20 choices, or none for a free-text answer; got 1.");
      await fails(c, "select baton.ask_question($1, 'Which?', array['A', 'a'])", [w.task], "BTINV", "The choices must differ (ignoring case); got A, a.");
      await fails(c, "select baton.ask_question($1, 'Which?', null, 0)", [w.task], "BTINV", /^The question timeout must be between 1 second and 30 days/);
      assert.equal(await taskStatus(c, w.task), "running");
    }));
});

describe("the task's waiting status", () => {
  it("cannot be entered without an open question (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await fails(c, "update baton.tasks set status = 'waiting' where id = $1", [w.task], "BTSTS", `Task ${w.task} has no open question, so it cannot become waiting; an agent waits with \`baton ask\`.`);
    }));

  it("cancels the open questions of a task that ends while waiting", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await ask(c, w.task, "Go on?");
      await c.query("select baton.report_task_status($1, 'failed', error => 'the agent crashed')", [w.task]);
      assert.equal((await question(c, qn.id)).status, "cancelled");
      assert.equal(await taskStatus(c, w.task), "failed");
    }));

  it("completes from waiting when its agent exits 0 anyway (its ask was killed)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await ask(c, w.task, "Go on?");
      await c.query("select baton.report_task_status($1, 'completed', daemon_id => $2)", [w.task, w.daemon]);
      assert.deepEqual([await taskStatus(c, w.task), (await question(c, qn.id)).status], ["completed", "cancelled"]);
    }));

  it("refuses a finished task's move to waiting (terminal states are final)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.report_task_status($1, 'completed')", [w.task]);
      await fails(c, "update baton.tasks set status = 'waiting' where id = $1", [w.task], "BTSTS", `Task ${w.task} is completed, so it cannot become waiting; completed, failed, interrupted and cancelled are final.`);
    }));
});

describe("timeouts", () => {
  it("expire_questions expires an open question past its timeout and the task runs again", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await as(c, w.agent, () => ask(c, w.task, "Which?", null, 60));
      assert.equal((await q<{ n: number }>(c, "select baton.expire_questions(now() + interval '59 seconds') as n")).n, 0);
      assert.equal((await q<{ n: number }>(c, "select baton.expire_questions(now() + interval '61 seconds') as n")).n, 1);
      assert.deepEqual([(await question(c, qn.id)).status, await taskStatus(c, w.task)], ["expired", "running"]);
      assert.equal((await eventsOf(c, w.task)).at(-2)?.kind, "question_expired");
      assert.equal((await q<{ n: number }>(c, "select baton.expire_questions(now() + interval '1 day') as n")).n, 0);
    }));

  it("the stall sweep leaves a waiting task alone, and counts from the answer afterwards", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.set_directive_limits($1, stall_seconds => 60)", [w.d]);
      const qn = await ask(c, w.task, "Which?");
      const overdue = (at: string) => c.query("select task_id, reason from baton_private.overdue_tasks(now() + $1::interval)", [at]).then((r) => r.rows);
      assert.deepEqual(await overdue("1 hour"), []);
      assert.equal((await q<{ n: number }>(c, "select baton.expire_tasks(now() + interval '1 hour') as n")).n, 0);
      assert.equal(await taskStatus(c, w.task), "waiting");
      await answer(c, qn.id, "this");
      // closed_at is this transaction's now(): the stall clock restarts there, not at started_at.
      assert.deepEqual(await overdue("59 seconds"), []);
      assert.deepEqual(await overdue("61 seconds"), [{ task_id: w.task, reason: "Stalled: no output for 1m (the directive's stall limit)." }]);
    }));

  it("the wall-clock timeout still interrupts a waiting task, and its question is cancelled", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.set_directive_limits($1, timeout_seconds => 600)", [w.d]);
      const qn = await ask(c, w.task, "Which?");
      assert.equal((await q<{ n: number }>(c, "select baton.expire_tasks(now() + interval '601 seconds') as n")).n, 1);
      const t = await task(c, w.task);
      assert.deepEqual([t.status, t.error, (await question(c, qn.id)).status], ["interrupted", "Timed out after 10m (the directive's timeout).", "cancelled"]);
    }));
});

describe("the question state machine (a DBA's direct UPDATE)", () => {
  const ALL = ["open", "answered", "expired", "cancelled"] as const;
  const LEGAL: Record<(typeof ALL)[number], readonly (typeof ALL)[number][]> = { open: ["answered", "expired", "cancelled"], answered: [], expired: [], cancelled: [] };
  for (const { from, to, legal } of transitionMatrix(ALL, LEGAL)) {
    it(`${legal ? "allows" : "refuses"} ${from} -> ${to}`, () =>
      withRootDb(db, async (c) => {
        const w = await running(c);
        const qn = await ask(c, w.task, "Which?");
        if (from !== "open") await c.query("update baton.questions set status = $2::text::baton.question_status, answer = case when $2::text = 'answered' then 'x' end where id = $1", [qn.id, from]);
        const sql = "update baton.questions set status = $2::text::baton.question_status, answer = case when $2::text = 'answered' then 'y' end where id = $1";
        if (legal) {
          await c.query(sql, [qn.id, to]);
          assert.equal((await question(c, qn.id)).status, to);
          assert.equal(await taskStatus(c, w.task), "running");
        } else {
          const e = (await fails(c, sql, [qn.id, to], "BTSTS", `Question ${qn.id} is ${from}, so it cannot become ${to}; ${from === "open" ? "allowed from open are answered, expired and cancelled" : "answered, expired and cancelled are final"}.`)) as Error & { detail?: string };
          assert.equal(e.detail, `from=${from} to=${to}`);
        }
      }));
  }

  it("refuses edits of what was asked", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await ask(c, w.task, "Which?");
      await fails(c, "update baton.questions set question = 'Other?' where id = $1", [qn.id], "BTINV", `Question ${qn.id} cannot be edited; only its status and answer change (answer it, or let it expire).`);
    }));
});

describe("who may ask, answer and cancel", () => {
  it("an agent asks only for its own live task; an owner or a daemon cannot ask", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const other = await running(c);
      await as(c, w.agent, () => fails(c, "select baton.ask_question($1, 'Hi?')", [other.task], "BTDNY", `This agent token is for task ${w.task}, so it cannot ask for task ${other.task}.`));
      await as(c, w.user, () => fails(c, "select baton.ask_question($1, 'Hi?')", [w.task], "42501", "permission denied for function ask_question"));
      await as(c, { role: "baton_daemon", owner: w.owner, daemon: w.daemon }, () => fails(c, "select baton.ask_question($1, 'Hi?')", [w.task], "42501", "permission denied for function ask_question"));
      assert.equal(await taskStatus(c, other.task), "running");
    }));

  it("only the owner answers: an agent may not, another owner sees no such question", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await as(c, w.agent, () => ask(c, w.task, "Which?"));
      await as(c, w.agent, () => fails(c, "select baton.answer_question($1, 'x')", [qn.id], "42501", "permission denied for function answer_question"));
      const stranger = await createOwner(c);
      await as(c, { role: "baton_user", owner: stranger }, () => fails(c, "select baton.answer_question($1, 'x')", [qn.id], "BTNFD", `Question ${qn.id} does not exist.`));
      await as(c, { role: "baton_user", owner: stranger }, async () => assert.equal((await c.query("select 1 from baton.questions")).rowCount, 0));
      // The agent reads its question (its `baton ask` waits on it); as root it is there and still open.
      await as(c, w.agent, async () => assert.equal((await c.query("select 1 from baton.questions where id = $1", [qn.id])).rowCount, 1));
      assert.equal((await question(c, qn.id)).status, "open");
    }));

  it("the agent withdraws its own question (cancel_question), repeatably", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await as(c, w.agent, () => ask(c, w.task, "Which?"));
      assert.equal((await as(c, w.agent, () => q<Question>(c, "select * from baton.cancel_question($1)", [qn.id]))).status, "cancelled");
      assert.equal((await as(c, w.agent, () => q<Question>(c, "select * from baton.cancel_question($1)", [qn.id]))).status, "cancelled");
      assert.equal(await taskStatus(c, w.task), "running");
    }));

  it("withdrawn past its deadline (no sweep ran), it is expired, as the sweep would have made it (sql/000031)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const qn = await as(c, w.agent, () => ask(c, w.task, "Which?", null, 60));
      // Its deadline passed: moved back with the row guard off (a question's deadline is not editable).
      await c.query("set local session_replication_role = replica");
      await c.query("update baton.questions set expires_at = now() - interval '1 minute' where id = $1", [qn.id]);
      await c.query("set local session_replication_role = origin");
      assert.equal((await as(c, w.agent, () => q<Question>(c, "select * from baton.cancel_question($1)", [qn.id]))).status, "expired");
      assert.equal(await taskStatus(c, w.task), "running");
    }));
});
