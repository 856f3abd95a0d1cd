/*
 * Every directive of the signed-in owner: status, progress (completed of all steps), open questions,
 * cost against budget and result, updated live: each listed directive's event feed triggers a
 * refetch. Above the list, every open question of the owner's agents, each with its answer box.
 */
import { gql } from "../api";
import { ErrorMessage } from "../components/ErrorMessage";
import { Link } from "../components/Link";
import { QUESTION_FIELDS, Questions, type OpenQuestion } from "../components/Questions";
import { StatusBadge } from "../components/StatusBadge";
import { usd, when } from "../format";
import { useLiveQuery } from "../live";

type Row = {
  rowId: string;
  title: string;
  status: string;
  resultBranch: string | null;
  resultCommit: string | null;
  resultUrl: string | null;
  updatedAt: string;
  all: { totalCount: number };
  done: { totalCount: number };
  asking: { totalCount: number };
};
type Data = {
  directives: { nodes: Row[] };
  directiveUsages: { nodes: { directiveId: string; costUsd: string | null; budgetUsd: string | null }[] };
  questions: { nodes: OpenQuestion[] } | null;
};

const QUERY = `query DashboardDirectives {
  directives(orderBy: CREATED_AT_DESC, first: 200) {
    nodes {
      rowId title status resultBranch resultCommit resultUrl updatedAt
      all: directiveSteps { totalCount }
      done: directiveSteps(condition: { status: completed }) { totalCount }
      asking: questions(condition: { status: open }) { totalCount }
    }
  }
  directiveUsages { nodes { directiveId costUsd budgetUsd } }
  questions(condition: { status: open }, orderBy: CREATED_AT_ASC, first: 50) { nodes { ${QUESTION_FIELDS} directive { title } } }
}`;

/** Live subscriptions for the first directives only: one websocket subscription each. */
const LIVE_LIMIT = 50;

export function DirectivesPage() {
  const live = useLiveQuery(
    () => gql<Data>(QUERY),
    "directives",
    (d) => d.directives.nodes.filter((r) => r.status !== "archived").slice(0, LIVE_LIMIT).map((r) => r.rowId),
  );
  const usage = new Map((live.data?.directiveUsages.nodes ?? []).map((u) => [u.directiveId, u]));
  return (
    <section aria-labelledby="directives-title">
      <div class="page-head">
        <h1 id="directives-title">Directives</h1>
        <Link href="/directives/new" class="button">
          New directive
        </Link>
      </div>
      <ErrorMessage message={live.error} />
      <Questions questions={live.data?.questions?.nodes ?? []} showDirective onAnswered={live.refetch} />
      {!live.data ? (
        <p class="muted">Loading…</p>
      ) : live.data.directives.nodes.length === 0 ? (
        <p class="muted" data-testid="no-directives">
          No directives yet. Create one here or with <code>baton directive create</code>.
        </p>
      ) : (
        <table class="list">
          <caption class="visually-hidden">Your directives, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Title</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Questions</th>
              <th scope="col">Cost of budget</th>
              <th scope="col">Result</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {live.data.directives.nodes.map((d) => {
              const u = usage.get(d.rowId);
              return (
                <tr key={d.rowId} data-directive={d.rowId}>
                  <td>
                    <Link href={`/directives/${d.rowId}`}>{d.title}</Link>
                  </td>
                  <td>
                    <StatusBadge status={d.status} />
                  </td>
                  <td>
                    <progress max={Math.max(1, d.all.totalCount)} value={d.done.totalCount} aria-label={`${d.done.totalCount} of ${d.all.totalCount} steps completed`} /> {d.done.totalCount}/{d.all.totalCount}
                  </td>
                  <td data-testid="open-questions">{d.asking.totalCount > 0 ? <strong>{d.asking.totalCount} open</strong> : <span class="muted">none</span>}</td>
                  <td data-testid="cost">
                    {usd(u?.costUsd)}
                    {u?.budgetUsd ? ` of ${usd(u.budgetUsd)}` : <span class="muted"> (no budget)</span>}
                  </td>
                  <td>{d.resultUrl ? <a href={d.resultUrl} rel="noreferrer">{d.resultBranch ?? "result"}</a> : d.resultBranch ? `${d.resultBranch}${d.resultCommit ? ` @ ${d.resultCommit.slice(0, 10)}` : ""}` : "—"}</td>
                  <td>{when(d.updatedAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
