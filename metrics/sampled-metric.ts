// Metrics whose samples are computed whole at scrape time: histograms mirrored from FixedHistogram, and optional values.
//
// prom-client's Histogram can only be fed observations, not bucket counts, and its no-label Gauge/Counter
// always print a 0 after reset(); a series that does not exist yet (no failover seen, no cache) must be absent
// instead. Registry.registerMetric() only needs name/help/type/aggregator and an async get(), so these objects
// carry exactly that.

import type { Metric, Registry } from 'prom-client';
import type { HistogramView } from './metrics-source.js';

export interface Sample {
  labels: Record<string, string | number>;
  value: number;
  /** For histograms: name_bucket / name_sum / name_count. */
  metricName?: string;
}

export interface SampledMetricDef {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  read(): Sample[];
}

export function registerSampled(register: Registry, def: SampledMetricDef): void {
  const metric = {
    name: def.name,
    help: def.help,
    type: def.type,
    aggregator: 'sum' as const,
    collect: () => {},
    reset: () => {},
    get: async () => ({
      name: def.name,
      help: def.help,
      type: def.type,
      aggregator: 'sum' as const,
      values: def.read(),
    }),
  };
  register.registerMetric(metric as unknown as Metric<string>);
}

/**
 * Prometheus histogram samples from per-bucket counts: buckets are cumulative and end with le="+Inf",
 * which equals the observation count (values above the last bound are only in +Inf).
 */
export function histogramSamples(
  name: string,
  h: HistogramView,
  labels: Record<string, string> = {},
): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: h.bounds[i]! }, value: cumulative });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}

/** One unlabelled sample, or none when the value is not known (yet). */
export function optionalSample(v: number | undefined): Sample[] {
  return v === undefined ? [] : [{ labels: {}, value: v }];
}
