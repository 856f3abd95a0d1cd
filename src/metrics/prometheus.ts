/*
 * The Prometheus text exposition format (version 0.0.4), written by hand: a metric family is a name,
 * a help line, a type and samples with labels. No client library: Baton exposes a handful of families.
 */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Record<string, string>;
export type Sample = { labels?: Labels; value: number; suffix?: string };
export type Family = { name: string; help: string; type: "counter" | "gauge" | "histogram"; samples: Sample[] };

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

export function formatFamilies(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(`${f.name}${s.suffix ?? ""}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return lines.join("\n") + "\n";
}

/** A histogram family from cumulative bucket counts (upper bound -> observations <= it), sum and count. */
export function histogram(name: string, help: string, buckets: [number, number][], sum: number, count: number): Family {
  return {
    name,
    help,
    type: "histogram",
    samples: [
      ...buckets.map(([le, n]) => ({ suffix: "_bucket", labels: { le: formatValue(le) }, value: n })),
      { suffix: "_bucket", labels: { le: "+Inf" }, value: count },
      { suffix: "_sum", value: sum },
      { suffix: "_count", value: count },
    ],
  };
}
