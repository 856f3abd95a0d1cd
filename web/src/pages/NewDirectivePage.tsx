/* Create a directive: title, goal, repository, base branch, check; started at once unless unticked. */
import { useState } from "preact/hooks";
import { gql } from "../api";
import { ErrorMessage } from "../components/ErrorMessage";
import { navigate } from "../router";

const CREATE = `mutation DashboardCreate($title: String!, $goal: String!, $repo: String, $baseBranch: String, $check: String, $start: Boolean) {
  createDirective(input: { title: $title, goal: $goal, repo: $repo, baseBranch: $baseBranch, checkCommand: $check, start: $start }) { result { rowId } }
}`;

export function NewDirectivePage() {
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const text = (name: string) => {
      const v = String(form.get(name) ?? "").trim();
      return v === "" ? null : v;
    };
    setBusy(true);
    setError(undefined);
    try {
      const data = await gql<{ createDirective: { result: { rowId: string } } }>(CREATE, {
        title: String(form.get("title") ?? ""),
        goal: String(form.get("goal") ?? ""),
        repo: text("repo"),
        baseBranch: text("baseBranch"),
        check: text("check"),
        start: form.get("start") === "on",
      });
      navigate(`/directives/${data.createDirective.result.rowId}`);
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
        <div class="checkbox">
          <input id="nd-start" name="start" type="checkbox" checked />
          <label for="nd-start">Start at once (planning begins when a daemon is connected)</label>
        </div>
        <ErrorMessage message={error} />
        <button type="submit" disabled={busy}>
          Create directive
        </button>
      </form>
    </section>
  );
}
