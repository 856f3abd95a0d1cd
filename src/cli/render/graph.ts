/*
 * The DAG as Mermaid or Graphviz DOT, coloured by status and labelled with generation. Pure.
 */
export type GraphStep = { id: string; name: string; status: string; generation: number; dependsOn: string[] };

const COLORS: Record<string, { fill: string; stroke: string }> = {
  pending: { fill: "#eeeeee", stroke: "#9e9e9e" },
  ready: { fill: "#bbdefb", stroke: "#1565c0" },
  running: { fill: "#fff59d", stroke: "#f9a825" },
  completed: { fill: "#c8e6c9", stroke: "#2e7d32" },
  failed: { fill: "#ffcdd2", stroke: "#c62828" },
  skipped: { fill: "#e1bee7", stroke: "#6a1b9a" },
  blocked: { fill: "#ffe0b2", stroke: "#ef6c00" },
};

const nodeId = (id: string) => "s" + id.replace(/-/g, "").slice(0, 12);
const mermaidText = (s: string) => s.replace(/"/g, "#quot;").replace(/[<>]/g, (c) => (c === "<" ? "#lt;" : "#gt;"));
const dotText = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

export function toMermaid(steps: GraphStep[]): string {
  const known = new Set(steps.map((s) => s.id));
  const lines = ["flowchart TD"];
  for (const s of steps) lines.push(`  ${nodeId(s.id)}["${mermaidText(s.name)}<br/>g${s.generation} · ${s.status}"]:::${s.status}`);
  for (const s of steps) for (const d of s.dependsOn) if (known.has(d)) lines.push(`  ${nodeId(d)} --> ${nodeId(s.id)}`);
  for (const [status, c] of Object.entries(COLORS)) lines.push(`  classDef ${status} fill:${c.fill},stroke:${c.stroke}`);
  return lines.join("\n");
}

export function toDot(steps: GraphStep[]): string {
  const known = new Set(steps.map((s) => s.id));
  const lines = ["digraph directive {", "  rankdir=TB;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];'];
  for (const s of steps) {
    const c = COLORS[s.status] ?? COLORS.pending!;
    lines.push(`  "${s.id}" [label="${dotText(s.name)}\\ng${s.generation} · ${s.status}", fillcolor="${c.fill}", color="${c.stroke}"];`);
  }
  for (const s of steps) for (const d of s.dependsOn) if (known.has(d)) lines.push(`  "${d}" -> "${s.id}";`);
  lines.push("}");
  return lines.join("\n");
}
