/*
 * `baton directive questions [DIRECTIVE]` lists the open questions agents asked (issue 12 point 2);
 * `baton directive answer QUESTION_ID "TEXT"` answers one, and the agent's `baton ask` prints it.
 * Only the owner answers (answerQuestion is granted to owner tokens only).
 */
import type { Command } from "commander";
import { AnswerQuestionDocument, OpenQuestionsDocument, type OpenQuestionsQuery, QuestionStatus } from "../../client/generated/graphql";
import type { GraphQLClient } from "../../client/graphql";
import { present, rows } from "../../client/results";
import { formatDuration } from "../../duration";
import { addCommonOptions, apiClient, output, parseId, UsageError, type CommonOptions } from "../context";

export type OpenQuestion = NonNullable<NonNullable<OpenQuestionsQuery["questions"]>["nodes"][number]>;

/** The open questions of one directive, or of every directive of the owner when `directiveId` is null. */
export async function fetchOpenQuestions(api: GraphQLClient, directiveId: string | null): Promise<OpenQuestion[]> {
  const condition = directiveId ? { directiveId, status: QuestionStatus.Open } : { status: QuestionStatus.Open };
  const data = await api.request(OpenQuestionsDocument, { condition });
  return rows(data.questions?.nodes);
}

/** "3m": the time from one instant to another, in whole seconds (at least 1s). */
function span(fromMs: number, toMs: number): string {
  return formatDuration(Math.max(1, Math.round((toMs - fromMs) / 1000)));
}

/**
 * Each open question in three or four lines: id, step and age (and its directive's title when the list
 * spans directives); the question; its choices; how to answer.
 */
export function questionLines(qs: OpenQuestion[], now = Date.now(), opts: { directive?: boolean } = {}): string[] {
  const lines: string[] = [];
  for (const q of qs) {
    const expires = q.expiresAt ? `, expires in ${span(now, Date.parse(q.expiresAt))}` : "";
    const where = opts.directive ? `  in ${JSON.stringify(q.directive?.title ?? q.directiveId)}` : "";
    lines.push(`${q.rowId}  ${q.step?.name ?? "(planner)"}${where}  asked ${span(Date.parse(q.createdAt), now)} ago${expires}`);
    lines.push(...q.question.split("\n").map((l) => `    ${l}`));
    if (q.choices) lines.push(`    choices: ${q.choices.map((c) => JSON.stringify(c)).join(", ")}`);
    lines.push(`    answer: baton directive answer ${q.rowId} ${q.choices ? JSON.stringify(q.choices[0]) : '"..."'}`);
  }
  return lines;
}

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("questions")
      .argument("[directive]", "the directive (default: --directive, then BATON_DIRECTIVE_ID, else every directive of yours)")
      .description("List the open questions your agents asked: id, step, question, choices and age.")
      .addHelpText(
        "after",
        `
An agent asks with \`baton ask\` and waits: its task shows as \`waiting\` until you answer with
\`baton directive answer QUESTION_ID "TEXT"\`, or the question's --timeout passes.

Examples:
  baton directive questions
  baton directive questions 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f --json`,
      ),
    { directive: true },
  ).action(async (arg: string | undefined, opts: CommonOptions) => {
    const raw = arg ?? opts.directive ?? process.env.BATON_DIRECTIVE_ID;
    const directiveId = raw ? parseId(raw, "The directive id") : null;
    const qs = await fetchOpenQuestions(apiClient(opts), directiveId);
    output(opts, qs, () => (qs.length ? questionLines(qs, Date.now(), { directive: !directiveId }).join("\n") : directiveId ? `No open questions in directive ${directiveId}.` : "No open questions."));
  });

  addCommonOptions(
    directive
      .command("answer")
      .argument("<question>", "the question's id (`baton directive questions` lists them)")
      .argument("<text>", "the answer; for a question with choices, one of them")
      .description("Answer an open question: the agent's `baton ask` prints the answer and its task runs again.")
      .addHelpText(
        "after",
        `
For a question with choices the answer must be one of them (case and surrounding spaces do not
matter). Only the directive's owner answers; an agent's token cannot.

Examples:
  baton directive answer 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f Postgres
  baton directive answer 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f "Yes, delete legacy/; nothing imports it."`,
      ),
  ).action(async (questionArg: string, text: string, opts: CommonOptions) => {
    const id = parseId(questionArg, "The question id");
    if (!text.trim()) throw new UsageError('The answer is empty: give its text, e.g. baton directive answer QUESTION_ID "Postgres".');
    const data = await apiClient(opts).request(AnswerQuestionDocument, { id, answer: text });
    const q = present(data.answerQuestion?.result, "the answered question");
    output(opts, q, `Answered question ${q.rowId} (${q.step?.name ?? "the planner"}): ${q.answer}. Its agent goes on.`);
  });
}
