/* Update a directive's goal: a new revision, which its planner plans again (updateGoal). */
import { useState } from "preact/hooks";
import { gql } from "../api";
import { ErrorMessage } from "./ErrorMessage";

const UPDATE_GOAL = "mutation DashboardUpdateGoal($id: UUID!, $goal: String!) { updateGoal(input: { directiveId: $id, goal: $goal }) { result { rowId goalRevision } } }";

export function GoalEditor(props: { directiveId: string; goal: string; disabled: boolean; onSaved: () => void }) {
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const goal = String(new FormData(event.currentTarget as HTMLFormElement).get("goal") ?? "");
    setBusy(true);
    setError(undefined);
    try {
      await gql(UPDATE_GOAL, { id: props.directiveId, goal });
      props.onSaved();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <details class="goal-editor">
      <summary>Update the goal</summary>
      <form class="form" onSubmit={submit}>
        <label for="goal-new">New goal (a new revision: the planner plans it again)</label>
        <textarea id="goal-new" name="goal" rows={5} required defaultValue={props.goal} />
        <ErrorMessage message={error} />
        <button type="submit" disabled={busy || props.disabled}>
          Update goal
        </button>
      </form>
    </details>
  );
}
