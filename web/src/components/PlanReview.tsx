/*
 * The plan waiting for review on a directive with review_plans (sql/000024): the proposal as a diff
 * against the live plan, like `baton directive plan` (kept, + added, - removed, ~ re-wired, each with
 * its name and dependencies), with Approve and Reject. Reject needs a reason: the next planner's
 * prompt quotes it. The data comes from the directive page's live query, so the diff follows the
 * directive's event feed (plan_proposed, plan_approved, ... are events on it).
 */
import { useState } from "preact/hooks";
import { gql } from "../api";
import { shortId } from "../format";
import { ActionButton } from "./ActionButton";
import { ErrorMessage } from "./ErrorMessage";
import { OPEN_PLAN_STATUSES, statusIn } from "../../../src/statuses";

export type PlanProposal = { rowId: string; status: string; reason: string | null; taskId: string | null };
export type PlanChange = {
  stepId: string | null;
  name: string | null;
  change: string | null;
  status: string | null;
  dependsOn: (string | null)[] | null;
  dependsOnNames: (string | null)[] | null;
  previousDependsOn: (string | null)[] | null;
};

/** The newest proposal, for the directive page's query (planDiff is read apart: it raises on a directive not the caller's). */
export const PLAN_FIELDS = `
  planProposals(condition: { directiveId: $id }, orderBy: CREATED_AT_DESC, first: 1) { nodes { rowId status reason taskId } }`;
const DIFF = "query DashboardPlanDiff($id: UUID!) { planDiff(directiveId: $id) { nodes { stepId name change status dependsOn dependsOnNames previousDependsOn } } }";

/** Whether a proposal waits for review (its diff is then worth reading). */
export const waiting = (p: PlanProposal | undefined): boolean => p !== undefined && statusIn(p.status, OPEN_PLAN_STATUSES);

/** The waiting plan's diff against the live plan (no rows when none waits). */
export async function fetchPlanDiff(directiveId: string): Promise<PlanChange[]> {
  return (await gql<{ planDiff: { nodes: PlanChange[] } | null }>(DIFF, { id: directiveId })).planDiff?.nodes ?? [];
}

const APPROVE = "mutation DashboardApprovePlan($d: UUID!) { approvePlan(input: { directiveId: $d }) { result { rowId status } } }";
const REJECT = "mutation DashboardRejectPlan($d: UUID!, $reason: String!) { rejectPlan(input: { directiveId: $d, reason: $reason }) { result { rowId status } } }";

const SIGN: Record<string, string> = { kept: " ", added: "+", removed: "-", rewired: "~" };
const WORD: Record<string, string> = { kept: "kept", added: "added", removed: "removed", rewired: "re-wired" };

function names(ids: (string | null)[] | null, given: (string | null)[] | null | undefined, nameOf: Map<string | null, string | null>): string {
  const list = ids ?? [];
  if (list.length === 0) return "nothing";
  return list.map((id, i) => `${given?.[i] ?? nameOf.get(id) ?? "?"} (${shortId(id ?? "")})`).join(", ");
}

export function PlanReview(props: { directiveId: string; reviewPlans: boolean; proposal: PlanProposal | undefined; changes: PlanChange[]; onDone: () => void }) {
  const [error, setError] = useState<string | undefined>(undefined);
  const [rejecting, setRejecting] = useState(false);
  const [busy, setBusy] = useState(false);
  const p = props.proposal;
  const open = waiting(p) ? p : undefined;
  if (!open) {
    if (!props.reviewPlans) return null;
    return (
      <section class="plan-review" aria-labelledby="plan-title">
        <h2 id="plan-title">Plan review</h2>
        <p class="muted" data-testid="plan-none">
          No plan is waiting for review.{p ? ` Last plan: ${p.status}${p.reason ? ` (${p.reason})` : ""}.` : ""}
        </p>
      </section>
    );
  }
  const count = (kind: string) => props.changes.filter((c) => c.change === kind).length;
  const nameOf = new Map(props.changes.map((c) => [c.stepId, c.name]));
  const reject = async (event: Event) => {
    event.preventDefault();
    // An empty reason goes to the API too, which refuses it with its own message (the one source of that rule).
    const reason = String(new FormData(event.currentTarget as HTMLFormElement).get("reason") ?? "").trim();
    setBusy(true);
    setError(undefined);
    try {
      await gql(REJECT, { d: props.directiveId, reason });
      setRejecting(false);
      props.onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="plan-review" aria-labelledby="plan-title" data-testid="plan-review" data-proposal={open.rowId} data-proposal-status={open.status}>
      <h2 id="plan-title">Plan waiting for review</h2>
      {open.status === "drafting" ? (
        <p class="muted">The planner is still writing this plan; review it once it has finished.</p>
      ) : (
        <p data-testid="plan-summary">
          {count("added")} added, {count("removed")} removed, {count("rewired")} re-wired, {count("kept")} kept. Nothing of it runs until you approve it.
        </p>
      )}
      <ol class="plan-diff" aria-label="The proposed plan, step by step">
        {props.changes.map((c) => {
          const kind = c.change ?? "";
          const deps = c.dependsOn ?? [];
          return (
            <li key={c.stepId} class={`plan-${kind}`} data-change={kind} data-step={c.name ?? ""}>
              <span class="plan-sign" aria-hidden="true">
                {SIGN[kind] ?? "?"}
              </span>{" "}
              <strong>{c.name ?? "?"}</strong> <span class="muted">({shortId(c.stepId ?? "")})</span> <span class="plan-change">{WORD[kind] ?? kind}</span>
              {c.status ? <span class="muted">, {c.status}</span> : null}
              {kind === "rewired" ? (
                <div class="plan-deps">
                  depends on {names(c.dependsOn, c.dependsOnNames, nameOf)} (was {names(c.previousDependsOn, undefined, nameOf)})
                </div>
              ) : deps.length > 0 ? (
                <div class="plan-deps">depends on {names(c.dependsOn, c.dependsOnNames, nameOf)}</div>
              ) : null}
            </li>
          );
        })}
      </ol>
      {open.status === "proposed" ? (
        <>
          <div class="controls" role="group" aria-label="Plan review">
            <ActionButton
              onClick={async () => {
                await gql(APPROVE, { d: props.directiveId });
                props.onDone();
              }}
              onError={setError}
            >
              Approve plan
            </ActionButton>
            <button type="button" class="danger" aria-expanded={rejecting} onClick={() => (setRejecting(!rejecting), setError(undefined))}>
              Reject plan…
            </button>
          </div>
          {rejecting ? (
            <form class="form" onSubmit={reject} noValidate>
              <label for="plan-reason">Why do you reject it? (the planner plans again, and its prompt quotes this)</label>
              <textarea id="plan-reason" name="reason" rows={3} required />
              <button type="submit" class="danger" disabled={busy}>
                Reject the plan
              </button>
            </form>
          ) : null}
        </>
      ) : null}
      <ErrorMessage message={error} />
    </section>
  );
}
