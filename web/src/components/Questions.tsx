/*
 * Open questions of agents (sql/000025): each with an answer box. A question with choices is
 * answered by a button per choice; one without, in a labelled text box. The agent's task waits
 * (status waiting) until the answer arrives; a failed answer (already answered, expired, not one of
 * the choices) shows the API's message. The list comes from the page's live query.
 */
import { useState } from "preact/hooks";
import { gql } from "../api";
import { when } from "../format";
import { ActionButton } from "./ActionButton";
import { ErrorMessage } from "./ErrorMessage";
import { Link } from "./Link";

export type OpenQuestion = {
  rowId: string;
  directiveId: string;
  question: string;
  choices: (string | null)[] | null;
  createdAt: string;
  expiresAt: string | null;
  step: { name: string } | null;
  directive?: { title: string } | null;
};

export const QUESTION_FIELDS = "rowId directiveId question choices createdAt expiresAt step { name }";

const ANSWER = "mutation DashboardAnswer($q: UUID!, $answer: String!) { answerQuestion(input: { questionId: $q, answer: $answer }) { result { rowId status } } }";

function Question(props: { q: OpenQuestion; showDirective: boolean; onAnswered: () => void }) {
  const { q } = props;
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const choices = (q.choices ?? []).filter((c): c is string => c !== null);
  const send = async (answer: string) => {
    await gql(ANSWER, { q: q.rowId, answer });
    props.onAnswered();
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    const answer = String(new FormData(event.currentTarget as HTMLFormElement).get("answer") ?? "");
    setBusy(true);
    setError(undefined);
    try {
      await send(answer);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const inputId = `answer-${q.rowId}`;
  return (
    <li class="question" data-question={q.rowId} aria-labelledby={`q-${q.rowId}`}>
      <p class="question-text" id={`q-${q.rowId}`}>
        {q.question}
      </p>
      <p class="muted">
        {props.showDirective && q.directive ? (
          <>
            <Link href={`/directives/${q.directiveId}`}>{q.directive.title}</Link>
            {", "}
          </>
        ) : null}
        {q.step ? `step ${q.step.name}, ` : ""}asked {when(q.createdAt)}
        {q.expiresAt ? `, expires ${when(q.expiresAt)}` : ""}
      </p>
      {choices.length > 0 ? (
        <div class="controls" role="group" aria-label={`Answers to: ${q.question}`}>
          {choices.map((c) => (
            <ActionButton key={c} onClick={() => send(c)} onError={setError}>
              {c}
            </ActionButton>
          ))}
        </div>
      ) : (
        <form class="form answer-form" onSubmit={submit}>
          <label for={inputId}>Your answer</label>
          <input id={inputId} name="answer" required autoComplete="off" />
          <button type="submit" disabled={busy}>
            Answer
          </button>
        </form>
      )}
      <ErrorMessage message={error} />
    </li>
  );
}

export function Questions(props: { questions: OpenQuestion[]; showDirective?: boolean; onAnswered: () => void }) {
  if (props.questions.length === 0) return null;
  return (
    <section class="questions" aria-labelledby="questions-title" data-testid="questions">
      <h2 id="questions-title">Open questions ({props.questions.length})</h2>
      <p class="muted">An agent waits for each answer.</p>
      <ul class="question-list">
        {props.questions.map((q) => (
          <Question key={q.rowId} q={q} showDirective={props.showDirective ?? false} onAnswered={props.onAnswered} />
        ))}
      </ul>
    </section>
  );
}
