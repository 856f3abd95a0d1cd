/*
 * One directive: its goal (and a form to update it), result and cost, the start/pause/archive
 * controls, the plan waiting for review (PlanReview), its agents' open questions (Questions), its steps as a graph (DagView, laid out by elkjs) that follows the directive's event feed
 * live, and the chosen step's panel.
 */
import { useMemo, useState } from "preact/hooks";
import { gql } from "../api";
import { ActionButton } from "../components/ActionButton";
import { DagView, type DagStep } from "../components/DagView";
import { ErrorMessage } from "../components/ErrorMessage";
import { GoalEditor } from "../components/GoalEditor";
import { Link } from "../components/Link";
import { fetchPlanDiff, PLAN_FIELDS, PlanReview, waiting, type PlanChange, type PlanProposal } from "../components/PlanReview";
import { QUESTION_FIELDS, Questions, type OpenQuestion } from "../components/Questions";
import { StatusBadge } from "../components/StatusBadge";
import { StepPanel } from "../components/StepPanel";
import { shortId, usd, when } from "../format";
import { useLiveQuery } from "../live";
import { LIVE_TASK_STATUSES, statusIn } from "../../../src/statuses"; // the same list the CLI and the daemon use

type Directive = {
  rowId: string;
  title: string;
  goal: string;
  status: string;
  repo: string | null;
  baseBranch: string | null;
  goalRevision: number;
  plannedRevision: number | null;
  resultBranch: string | null;
  resultCommit: string | null;
  resultUrl: string | null;
  updatedAt: string;
  reviewPlans: boolean;
  directiveSteps: { nodes: { rowId: string; name: string; status: string; stepDependenciesByStepId: { nodes: { dependsOnStepId: string }[] } }[] };
  tasks: { nodes: { rowId: string; kind: string; status: string }[] };
};
type Data = {
  directive: Directive | null;
  directiveUsages: { nodes: { costUsd: string | null; budgetUsd: string | null }[] };
  planProposals: { nodes: PlanProposal[] } | null;
  planDiff: PlanChange[];
  questions: { nodes: OpenQuestion[] } | null;
};

const QUERY = `query DashboardDirective($id: UUID!) {
  directive(rowId: $id) {
    rowId title goal status repo baseBranch goalRevision plannedRevision
    resultBranch resultCommit resultUrl updatedAt reviewPlans
    directiveSteps(orderBy: [ORDER_INDEX_ASC, CREATED_AT_ASC]) {
      nodes { rowId name status stepDependenciesByStepId { nodes { dependsOnStepId } } }
    }
    tasks(condition: { kind: "planning" }, orderBy: CREATED_AT_DESC, first: 1) { nodes { rowId kind status } }
  }
  directiveUsages(condition: { directiveId: $id }) { nodes { costUsd budgetUsd } }${PLAN_FIELDS}
  questions(condition: { directiveId: $id, status: open }, orderBy: CREATED_AT_ASC) { nodes { ${QUESTION_FIELDS} } }
}`;

const ACTIONS = {
  start: "mutation DashboardStart($id: UUID!) { startDirective(input: { directiveId: $id }) { result { rowId status } } }",
  pause: "mutation DashboardPause($id: UUID!) { pauseDirective(input: { directiveId: $id }) { result { rowId status } } }",
  archive: "mutation DashboardArchive($id: UUID!) { archiveDirective(input: { directiveId: $id }) { result { rowId status } } }",
};


/** The directive, then the diff of its plan when one waits for review. */
async function fetchDirective(id: string): Promise<Data> {
  const data = await gql<Omit<Data, "planDiff">>(QUERY, { id });
  const planDiff = data.directive && waiting(data.planProposals?.nodes[0]) ? await fetchPlanDiff(id) : [];
  return { ...data, planDiff };
}

export function DirectivePage(props: { id: string }) {
  const live = useLiveQuery(() => fetchDirective(props.id), props.id, (d) => (d.directive ? [d.directive.rowId] : []));
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const d = live.data?.directive;
  const steps: DagStep[] = useMemo(
    () => (d?.directiveSteps.nodes ?? []).map((s) => ({ rowId: s.rowId, name: s.name, status: s.status, dependsOn: s.stepDependenciesByStepId.nodes.map((n) => n.dependsOnStepId) })),
    [d],
  );
  if (live.data && !d) {
    return (
      <section>
        <h1>Directive not found</h1>
        <p>Directive {props.id} does not exist or is not yours.</p>
        <Link href="/">Back to the directives</Link>
      </section>
    );
  }
  if (!d) return <p class="muted">{live.error ?? "Loading…"}</p>;
  const planning = d.tasks.nodes.find((t) => statusIn(t.status, LIVE_TASK_STATUSES));
  const usage = live.data?.directiveUsages.nodes[0];
  const act = (kind: keyof typeof ACTIONS) => async () => {
    await gql(ACTIONS[kind], { id: d.rowId });
    live.refetch();
  };
  return (
    <section aria-labelledby="directive-title">
      <p>
        <Link href="/">← Directives</Link>
      </p>
      <div class="page-head">
        <h1 id="directive-title">{d.title}</h1>
        <StatusBadge status={d.status} />
        {planning ? <span class="badge status-planning" data-testid="planning">planning ({planning.status})</span> : null}
        {live.data?.planProposals?.nodes[0]?.status === "proposed" ? (
          <a class="badge status-review" href="#plan-title" data-testid="plan-waiting">
            plan waiting for review
          </a>
        ) : null}
      </div>
      <div class="controls" role="group" aria-label="Directive controls">
        <ActionButton onClick={act("start")} onError={setActionError} disabled={d.status === "archived"}>
          Start
        </ActionButton>
        <ActionButton onClick={act("pause")} onError={setActionError} disabled={d.status === "archived"}>
          Pause
        </ActionButton>
        <ActionButton onClick={act("archive")} onError={setActionError} disabled={d.status === "archived"} class="danger">
          Archive
        </ActionButton>
      </div>
      <ErrorMessage message={actionError} />
      <ErrorMessage message={live.error} />
      <dl class="facts">
        <dt>Id</dt>
        <dd title={d.rowId}>{shortId(d.rowId)}</dd>
        <dt>Repository</dt>
        <dd>{d.repo ? `${d.repo}${d.baseBranch ? ` (${d.baseBranch})` : ""}` : "—"}</dd>
        <dt>Goal revision</dt>
        <dd>
          {d.goalRevision}
          {d.plannedRevision !== null && d.plannedRevision < d.goalRevision ? " (planning the new revision)" : ""}
        </dd>
        <dt>Cost</dt>
        <dd>
          {usd(usage?.costUsd)}
          {usage?.budgetUsd ? ` of ${usd(usage.budgetUsd)}` : ""}
        </dd>
        <dt>Result</dt>
        <dd>{d.resultUrl ? <a href={d.resultUrl} rel="noreferrer">{d.resultUrl}</a> : d.resultBranch ? `${d.resultBranch}${d.resultCommit ? ` @ ${d.resultCommit.slice(0, 10)}` : ""}` : "—"}</dd>
        <dt>Updated</dt>
        <dd>{when(d.updatedAt)}</dd>
      </dl>
      <PlanReview directiveId={d.rowId} reviewPlans={d.reviewPlans} proposal={live.data?.planProposals?.nodes[0]} changes={live.data?.planDiff ?? []} onDone={live.refetch} />
      <Questions questions={live.data?.questions?.nodes ?? []} onAnswered={live.refetch} />
      <h2>Goal</h2>
      <pre class="goal">{d.goal}</pre>
      <GoalEditor directiveId={d.rowId} goal={d.goal} disabled={d.status === "archived"} onSaved={live.refetch} />
      <h2>Steps</h2>
      <p class="muted">Click a step, or focus it and press Enter, to see its attempts and output.</p>
      <DagView steps={steps} selected={selected} onSelect={setSelected} />
      {selected ? <StepPanel key={selected} directiveId={d.rowId} stepId={selected} onClose={() => setSelected(undefined)} /> : null}
    </section>
  );
}
