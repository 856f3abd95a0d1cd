/*
 * prom-client glue that the library lacks: a histogram whose buckets are counted elsewhere. The
 * dispatch latency histogram is kept by triggers in the database (sql/000015_metric_counters.sql), so
 * each scrape *sets* its cumulative bucket counts, sum and count instead of observing values;
 * prom-client's registry then writes it like any histogram (le labels, +Inf, _sum, _count).
 */
import { Histogram, type Registry } from "prom-client";

export type HistogramSnapshot = {
  /** [upper bound, observations <= it], cumulative, for each configured bucket. */
  buckets: [number, number][];
  sum: number;
  count: number;
};

export class SnapshotHistogram extends Histogram {
  private snapshot: HistogramSnapshot;
  private readonly family: { name: string; help: string };

  constructor(opts: { name: string; help: string; buckets: number[]; registers: Registry[] }) {
    super(opts);
    this.family = { name: opts.name, help: opts.help };
    this.snapshot = { buckets: opts.buckets.map((b) => [b, 0]), sum: 0, count: 0 };
  }

  set(snapshot: HistogramSnapshot): void {
    this.snapshot = snapshot;
  }

  override async get() {
    const { buckets, sum, count } = this.snapshot;
    const { name, help } = this.family;
    // prom-client's .d.ts types `type` as a numeric enum; at run time (and in the text) it is "histogram".
    const family = {
      name,
      help,
      type: "histogram",
      aggregator: "sum",
      values: [
        ...buckets.map(([le, value]) => ({ metricName: `${name}_bucket`, labels: { le }, value })),
        { metricName: `${name}_bucket`, labels: { le: "+Inf" }, value: count },
        { metricName: `${name}_sum`, labels: {}, value: sum },
        { metricName: `${name}_count`, labels: {}, value: count },
      ],
    };
    return family as unknown as Awaited<ReturnType<Histogram["get"]>>;
  }

  /** The registry writes from this when a metric has it (prom-client's histograms do). */
  async getForPromString() {
    return this.get();
  }
}
