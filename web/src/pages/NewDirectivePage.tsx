/*
 * Create a directive: title, goal, repository, base branch, check, a cost budget and plan review;
 * started at once unless unticked. With a budget or plan review it is created as a draft, given the
 * budget and review (as `baton directive create --review-plans` does), then started, so no task runs
 * before the budget holds and no plan runs unreviewed. When a step after the creation fails, the
 * draft stays: the page links it and shows the API's message.
 */
import { useState } from "preact/hooks";
import { gql } from "../api";
import { ErrorMessage } from "../components/ErrorMessage";
import { Link } from "../components/Link";
import { navigate } from "../router";

// The budget and review in one all-or-nothing call (sql/000029), as `baton directive create` sends them.
const SETTINGS = "mutation DashboardSettings($id: UUID!, $settings: JSON!) { updateDirective(input: { directiveId: $id, settings: $settings }) { result { rowId } } }";
const START = "mutation DashboardStartNew($id: UUID!) { startDirective(input: { directiveId: $id }) { result { rowId } } }";
const CREATE = `mutation DashboardCreate($title: String!, $goal: String!, $repo: String, $baseBranch: String, $check: String, $start: Boolean) {
  createDirective(input: { title: $title, goal: $goal, repo: $repo, baseBranch: $baseBranch, checkCommand: $check, start: $start }) { result { rowId } }
}`;

export function NewDirectivePage() {
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [draft, setDraft] = useState<string | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const text = (name: string) => {
      const v = String(form.get(name) ?? "").trim();
      return v === "" ? null : v;
    };
    setBusy(true);
    setError(undefined);
    const budget = text("budget");
    const start = form.get("start") === "on";
    const review = form.get("reviewPlans") === "on";
    const later = budget !== null || review; // set on the draft, before it starts
    try {
      const data = await gql<{ createDirective: { result: { rowId: string } } }>(CREATE, {
        title: String(form.get("title") ?? ""),
        goal: String(form.get("goal") ?? ""),
        repo: text("repo"),
        baseBranch: text("baseBranch"),
        check: text("check"),
        start: start && !later,
      });
      const id = data.createDirective.result.rowId;
      if (later) {
        try {
          const settings: Record<string, unknown> = {};
          // A number goes as one; anything else as typed, for the server to refuse with its message.
          if (budget !== null) settings.budget_usd = Number.isFinite(Number(budget)) ? Number(budget) : budget;
          if (review) settings.review_plans = true;
          await gql(SETTINGS, { id, settings });
          if (start) await gql(START, { id });
        } catch (err) {
          setDraft(id); // it exists, as a draft: the message says why the budget, the review or the start failed
          throw err;
        }
      }
      navigate(`/directives/${id}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">New directive</h1>
      <form class="form" onSubmit={submit}>
        <label for="nd-title">Title</label>
        <input id="nd-title" name="title" required />
        <label for="nd-goal">Goal</label>
        <textarea id="nd-goal" name="goal" rows={6} required />
        <label for="nd-repo">Repository (a path or URL the daemons can clone)</label>
        <input id="nd-repo" name="repo" />
        <label for="nd-base">Base branch</label>
        <input id="nd-base" name="baseBranch" placeholder="main" />
        <label for="nd-check">Check command (run after each step)</label>
        <input id="nd-check" name="check" />
        <label for="nd-budget">Budget in USD (pause when its cost reaches it; empty: none)</label>
        <input id="nd-budget" name="budget" type="number" min="0.01" step="0.01" inputMode="decimal" />
        <div class="checkbox">
          <input id="nd-review" name="reviewPlans" type="checkbox" aria-describedby="nd-review-help" />
          <label for="nd-review">Review plans</label>
        </div>
        <p id="nd-review-help" class="muted hint">
          What its planners write waits for your approval on the directive's page: nothing of a plan runs until you approve it.
        </p>
        <div class="checkbox">
          <input id="nd-start" name="start" type="checkbox" checked />
          <label for="nd-start">Start at once (planning begins when a daemon is connected)</label>
        </div>
        <ErrorMessage message={error} />
        {draft ? (
          <p>
            The directive was created as a draft: <Link href={`/directives/${draft}`}>open it</Link>.
          </p>
        ) : null}
        <button type="submit" disabled={busy || draft !== undefined}>
          Create directive
        </button>
      </form>
    </section>
  );
}
