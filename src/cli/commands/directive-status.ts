import type { Command } from "commander";
import { addCommonOptions, apiClient, directiveIdFrom, output, type CommonOptions } from "../context";
import { DIRECTIVE_FIELDS, STEP_FIELDS, stepJson, TASK_FIELDS, type DirectiveRow, type StepRow, type TaskRow } from "../fragments";
import { UsageError } from "../context";

export type DirectiveSnapshot = DirectiveRow & { directiveSteps: { nodes: StepRow[] }; tasks: { nodes: TaskRow[] } };

export async function fetchDirective(opts: CommonOptions, id: string): Promise<DirectiveSnapshot> {
  const data = await apiClient(opts).request<{ directive: DirectiveSnapshot | null }>(
    `query($id: UUID!) { directive(rowId: $id) { ${DIRECTIVE_FIELDS}
        directiveSteps(orderBy: [ORDER_INDEX_ASC, CREATED_AT_ASC]) { nodes { ${STEP_FIELDS} } }
        tasks(orderBy: CREATED_AT_ASC) { nodes { ${TASK_FIELDS} } } } }`,
    { id },
  );
  if (!data.directive) throw Object.assign(new Error(`Directive ${id} does not exist. List your directives with \`baton directive list\`.`), { code: "BTNFD" });
  return data.directive;
}

export function snapshotJson(d: DirectiveSnapshot) {
  const { directiveSteps, tasks, ...directive } = d;
  return { directive, steps: directiveSteps.nodes.map(stepJson), tasks: tasks.nodes };
}

export function renderStatus(d: DirectiveSnapshot): string {
  const byId = new Map(d.directiveSteps.nodes.map((s) => [s.rowId, s]));
  const lines = [`${d.title} (${d.rowId})`, `status ${d.status}, goal revision ${d.goalRevision}, generation ${d.currentGeneration}`, ""];
  if (d.directiveSteps.nodes.length === 0) lines.push("No steps yet.");
  for (const s of d.directiveSteps.nodes) {
    const deps = s.stepDependenciesByStepId.nodes.map((n) => byId.get(n.dependsOnStepId)?.name ?? n.dependsOnStepId);
    lines.push(`${s.rowId}  ${s.status.padEnd(9)} g${s.generation}  ${s.name}${deps.length ? `  <- ${deps.join(", ")}` : ""}`);
    if (s.currentTask?.error && ["failed", "blocked", "ready"].includes(s.status)) lines.push(`    last error: ${s.currentTask.error.split("\n").slice(-1)[0]}`);
  }
  const live = d.tasks.nodes.filter((t) => ["pending", "starting", "running"].includes(t.status));
  if (live.length) {
    lines.push("", "Tasks in flight:");
    for (const t of live) lines.push(`${t.rowId}  ${t.kind.padEnd(9)} ${t.status.padEnd(8)} ${t.daemon?.name ?? "(waiting for a daemon)"}`);
  }
  return lines.join("\n");
}

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("status")
      .description("Show a directive, every step with its status and dependencies, and its tasks.")
      .addHelpText("after", "\nExample:\n  baton directive status --directive $BATON_DIRECTIVE_ID --json"),
    { directive: true },
  ).action(async (opts: CommonOptions) => {
    const d = await fetchDirective(opts, directiveIdFrom(opts));
    output(opts, snapshotJson(d), () => renderStatus(d));
  });
}
export { UsageError };
