/*
 * A directive's steps as a graph, laid out by elkjs (layered, left to right). The layout runs once per
 * change in the graph's SHAPE (which steps, which edges), never for a status change: statuses are
 * applied when rendering, from the latest steps, onto the positions ELK computed. Nodes are SVG groups
 * that can be focused (Tab) and name their step and status.
 *
 * A large graph is drawn in batches of BATCH nodes (and their edges), one per animation frame, so no
 * single frame of the page's thread grows with the graph: 2,000 nodes drawn at once were one 270 ms task.
 *
 * ELK runs in a Web Worker (its own file, served from this origin like the page's scripts), so a
 * large graph's layout never blocks the page: it stays scrollable and clickable meanwhile.
 */
import ELK, { type ElkExtendedEdge, type ElkNode } from "elkjs/lib/elk-api.js";
import elkWorkerUrl from "elkjs/lib/elk-worker.min.js?url";
import { useEffect, useMemo, useState } from "preact/hooks";

export type DagStep = { rowId: string; name: string; status: string; dependsOn: string[] };

const NODE_WIDTH = 180;
const BATCH = 250;
const NODE_HEIGHT = 44;
const elk = new ELK({ workerUrl: elkWorkerUrl, workerFactory: (url) => new Worker(url ?? elkWorkerUrl) });

type Layout = { width: number; height: number; nodes: Map<string, { x: number; y: number }>; edges: { id: string; target: string; points: string }[] };

/** The graph's shape: ids and edges in a stable order. A status change leaves it unchanged. */
export function shapeKey(steps: DagStep[]): string {
  return steps
    .map((s) => `${s.rowId}<${[...s.dependsOn].sort().join(",")}`)
    .sort()
    .join(";");
}

async function layout(steps: DagStep[]): Promise<Layout> {
  const ids = new Set(steps.map((s) => s.rowId));
  const edges: ElkExtendedEdge[] = [];
  for (const s of steps) for (const d of s.dependsOn) if (ids.has(d)) edges.push({ id: `${d}->${s.rowId}`, sources: [d], targets: [s.rowId] });
  const graph: ElkNode = {
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "48",
      "elk.spacing.nodeNode": "20",
      "elk.edgeRouting": "ORTHOGONAL",
    },
    children: steps.map((s) => ({ id: s.rowId, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges,
  };
  const out = await elk.layout(graph);
  const nodes = new Map<string, { x: number; y: number }>();
  for (const n of out.children ?? []) nodes.set(n.id, { x: n.x ?? 0, y: n.y ?? 0 });
  const paths = (out.edges ?? []).map((e) => {
    const section = e.sections?.[0];
    const pts = section ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint] : [];
    return { id: e.id, target: e.targets[0]!, points: pts.map((p) => `${p.x},${p.y}`).join(" ") };
  });
  return { width: out.width ?? 0, height: out.height ?? 0, nodes, edges: paths };
}

export function DagView(props: { steps: DagStep[]; onLayout?: (count: number) => void; selected?: string; onSelect?: (stepId: string) => void }) {
  const key = useMemo(() => shapeKey(props.steps), [props.steps]);
  const [result, setResult] = useState<{ key: string; layout: Layout } | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    let alive = true;
    performance.mark("baton:dag-layout-start");
    layout(props.steps)
      .then((l) => {
        if (!alive) return;
        performance.mark("baton:dag-layout-end");
        setResult({ key, layout: l });
        props.onLayout?.(props.steps.length);
      })
      .catch((err: unknown) => alive && setError(`The graph could not be laid out: ${err instanceof Error ? err.message : String(err)}`));
    return () => {
      alive = false;
    };
  }, [key]); // the shape only: statuses are read below, at render

  // How many nodes (in layout order) are drawn: a new layout starts with one batch, and each frame adds one.
  const [shown, setShown] = useState(BATCH);
  useEffect(() => setShown(BATCH), [result]);
  const total = props.steps.length;
  useEffect(() => {
    if (!result) return;
    if (shown >= total) return void performance.mark("baton:dag-drawn"); // after the commit that drew the last batch
    const frame = requestAnimationFrame(() => setShown((n) => n + BATCH));
    return () => cancelAnimationFrame(frame);
  }, [result, shown, total]);

  if (error) return <p class="error" role="alert">{error}</p>;
  if (props.steps.length === 0) return <p class="muted">No steps yet.</p>;
  if (!result) return <p class="muted">Laying out {props.steps.length} steps…</p>;
  const { layout: l } = result;
  const margin = 8;
  const drawn = shown >= total ? props.steps : props.steps.slice(0, shown);
  const drawnIds = shown >= total ? undefined : new Set(drawn.map((s) => s.rowId));
  const edges = drawnIds ? l.edges.filter((e) => drawnIds.has(e.target)) : l.edges;
  return (
    <div class="dag-scroll">
      <svg class="dag" role="group" aria-label={`Step graph, ${props.steps.length} steps`} data-layout-key={result.key === key ? "current" : "stale"} width={l.width + 2 * margin} height={l.height + 2 * margin} viewBox={`${-margin} ${-margin} ${l.width + 2 * margin} ${l.height + 2 * margin}`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="dag-arrow" />
          </marker>
        </defs>
        {edges.map((e) => (
          <polyline key={e.id} points={e.points} class="dag-edge" marker-end="url(#arrow)" />
        ))}
        {drawn.map((s) => {
          const pos = l.nodes.get(s.rowId);
          if (!pos) return null; // added since the last layout: drawn after the next one
          return (
            <g
              key={s.rowId}
              class={`dag-node status-${s.status}${s.rowId === props.selected ? " selected" : ""}`}
              transform={`translate(${pos.x},${pos.y})`}
              tabindex={0} // lowercase: in SVG, Preact sets attributes by name, and tabIndex would not be tabindex
              role="button"
              aria-pressed={s.rowId === props.selected}
              aria-label={`${s.name}: ${s.status}. Open the step.`}
              data-step={s.name}
              data-status={s.status}
              onClick={() => props.onSelect?.(s.rowId)}
              onKeyDown={(event) => {
                if (event.key !== "Enter" && event.key !== " ") return;
                event.preventDefault();
                props.onSelect?.(s.rowId);
              }}
            >
              <title>{`${s.name}: ${s.status}`}</title>
              <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx="6" />
              <text x="10" y="18" class="dag-name">
                {s.name.length > 24 ? `${s.name.slice(0, 23)}…` : s.name}
              </text>
              <text x="10" y="35" class="dag-status">
                {s.status}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
