/*
 * One step of the directive: its status and attempts, the chosen attempt's output (live while it
 * runs), its error, and the controls retry, skip, complete and cancel (the running attempt). Each
 * action's failure shows the API's message. Follows the directive's event feed like the page.
 */
import { useState } from "preact/hooks";
import { gql } from "../api";
import { when } from "../format";
import { useLiveQuery } from "../live";
import { ActionButton } from "./ActionButton";
import { ErrorMessage } from "./ErrorMessage";
import { StatusBadge } from "./StatusBadge";
import { TaskOutput } from "./TaskOutput";
import { LIVE_TASK_STATUSES, statusIn } from "../../../src/statuses"; // the same list the CLI and the daemon use

type Attempt = { rowId: string; attempt: number | null; status: string; error: string | null; startedAt: string | null; finishedAt: string | null; daemon: { name: string } | null };
type Step = { rowId: string; name: string; status: string; description: string | null; attempts: number; maxAttempts: number; checkCommand: string | null; tasksByStepId: { nodes: Attempt[] } };

const STEP = `query DashboardStep($s: UUID!) {
  directiveStep(rowId: $s) {
    rowId name status description attempts maxAttempts checkCommand
    tasksByStepId(orderBy: CREATED_AT_ASC) { nodes { rowId attempt status error startedAt finishedAt daemon { name } } }
  }
}`;
const STEP_ACTIONS = {
  retry: "mutation DashboardRetry($s: UUID!) { retryStep(input: { stepId: $s }) { result { rowId status } } }",
  skip: "mutation DashboardSkip($s: UUID!) { skipStep(input: { stepId: $s }) { result { rowId status } } }",
  complete: "mutation DashboardComplete($s: UUID!) { completeStep(input: { stepId: $s }) { result { rowId status } } }",
};
const CANCEL = "mutation DashboardCancel($t: UUID!) { cancelTask(input: { taskId: $t }) { result { rowId status } } }";

export function StepPanel(props: { directiveId: string; stepId: string; onClose: () => void }) {
  const live = useLiveQuery(() => gql<{ directiveStep: Step | null }>(STEP, { s: props.stepId }), props.stepId, () => [props.directiveId]);
  const [picked, setPicked] = useState<string | undefined>(undefined);
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const step = live.data?.directiveStep;
  if (!step) return <p class="muted">{live.error ?? "Loading the step…"}</p>;
  const attempts = step.tasksByStepId.nodes;
  const shown = attempts.find((a) => a.rowId === picked) ?? attempts[attempts.length - 1];
  const running = attempts.find((a) => statusIn(a.status, LIVE_TASK_STATUSES));
  const act = (run: () => Promise<unknown>) => async () => {
    await run();
    live.refetch();
  };
  return (
    <section class="step-panel" aria-labelledby="step-title">
      <div class="page-head">
        <h2 id="step-title">Step: {step.name}</h2>
        <StatusBadge status={step.status} />
        <span class="muted">
          attempt {step.attempts} of {step.maxAttempts}
        </span>
        <button type="button" onClick={props.onClose}>
          Close <span class="visually-hidden">the step</span>
        </button>
      </div>
      {step.description ? <p>{step.description}</p> : null}
      <div class="controls" role="group" aria-label="Step controls">
        <ActionButton onClick={act(() => (setPicked(undefined), gql(STEP_ACTIONS.retry, { s: step.rowId })))} onError={setActionError}>
          Retry
        </ActionButton>
        <ActionButton onClick={act(() => gql(STEP_ACTIONS.skip, { s: step.rowId }))} onError={setActionError}>
          Skip
        </ActionButton>
        <ActionButton onClick={act(() => gql(STEP_ACTIONS.complete, { s: step.rowId }))} onError={setActionError}>
          Complete
        </ActionButton>
        <ActionButton onClick={act(() => gql(CANCEL, { t: running!.rowId }))} onError={setActionError} disabled={!running} class="danger">
          Cancel attempt
        </ActionButton>
      </div>
      <ErrorMessage message={actionError} />
      <ErrorMessage message={live.error} />
      {attempts.length === 0 ? (
        <p class="muted">No attempt yet.</p>
      ) : (
        <>
          <div class="attempts" role="tablist" aria-label="Attempts">
            {attempts.map((a) => (
              <button type="button" role="tab" key={a.rowId} aria-selected={a.rowId === shown?.rowId} onClick={() => setPicked(a.rowId)} data-attempt={a.attempt ?? ""}>
                Attempt {a.attempt ?? "?"}: {a.status}
              </button>
            ))}
          </div>
          {shown ? (
            <div role="tabpanel" aria-label={`Attempt ${shown.attempt ?? "?"}`}>
              <p class="muted">
                {shown.daemon ? `on ${shown.daemon.name}, ` : ""}started {when(shown.startedAt)}
                {shown.finishedAt ? `, finished ${when(shown.finishedAt)}` : ""}
              </p>
              {shown.error ? (
                <p class="error attempt-error" data-testid="attempt-error">
                  {shown.error}
                </p>
              ) : null}
              <TaskOutput directiveId={props.directiveId} taskId={shown.rowId} live={statusIn(shown.status, LIVE_TASK_STATUSES)} />
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}
