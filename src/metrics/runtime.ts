// The Temporal worker's runtime metrics (task slots, poll and schedule-to-start
// latencies, sticky cache, ...) on the same /metrics endpoint as the pipeline's:
// the Rust core buffers every metric update and this bridge replays them into
// prom-client, so one scrape target carries both.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DefaultLogger, MetricsBuffer, Runtime, type BufferedMetricUpdate, type Logger } from '@temporalio/worker';

/** Seconds, not milliseconds, as Prometheus expects (temporal_*_latency_seconds). */
const BUFFER_OPTIONS = { useSecondsForDurations: true, maxBufferSize: 50_000 };
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const DRAIN_EVERY_MS = 1000;

/**
 * Installs the process-wide Temporal runtime with buffered metrics. Call it once,
 * before the first connection; a runtime already installed is left as it is.
 */
export function installWorkerRuntime(logger: Logger = new DefaultLogger('INFO')): void {
  if (Runtime._instance) return;
  Runtime.install({ logger, telemetryOptions: { metrics: { buffer: new MetricsBuffer(BUFFER_OPTIONS) } } });
}

type PromMetric = Counter<string> | Gauge<string> | Histogram<string>;

function labelName(key: string): string {
  const name = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[a-zA-Z_]/.test(name) ? name : `_${name}`;
}

export interface RuntimeMetricsBridge {
  /** Replays every buffered update; call it before rendering the registry. */
  drain(): void;
  stop(): void;
}

/**
 * Replays the runtime's buffered metric updates into `registry`, every second
 * (the buffer is bounded) and on demand. Without a buffered runtime it does nothing.
 */
export function bridgeRuntimeMetrics(registry: Registry): RuntimeMetricsBridge {
  const buffer = Runtime._instance?.metricsBuffer;
  if (!buffer) return { drain: () => {}, stop: () => {} };
  const metrics = new Map<string, { metric: PromMetric; labels: string[] }>();

  const metricFor = (update: BufferedMetricUpdate, labels: string[]) => {
    const known = metrics.get(update.metric.name);
    if (known) return known;
    const base = {
      name: labelName(update.metric.name),
      help: update.metric.description || `Temporal worker runtime metric ${update.metric.name}`,
      labelNames: labels,
      registers: [registry],
    };
    let metric: PromMetric;
    switch (update.metric.kind) {
      case 'counter': metric = new Counter(base); break;
      case 'histogram': metric = new Histogram({ ...base, buckets: LATENCY_BUCKETS }); break;
      default: metric = new Gauge(base); // gauges and up-down counters
    }
    const entry = { metric, labels };
    metrics.set(update.metric.name, entry);
    return entry;
  };

  const apply = (update: BufferedMetricUpdate) => {
    const given = Object.fromEntries(Object.entries(update.attributes).map(([k, v]) => [labelName(k), String(v)]));
    const { metric, labels } = metricFor(update, Object.keys(given));
    // A metric keeps the label names of its first update; others are dropped, missing ones are empty.
    const values = Object.fromEntries(labels.map((l) => [l, given[l] ?? '']));
    if (metric instanceof Counter) metric.inc(values, update.value);
    else if (metric instanceof Histogram) metric.observe(values, update.value);
    else if (update.metric.kind === 'up-down-counter') metric.inc(values, update.value);
    else metric.set(values, update.value);
  };

  const drain = () => {
    for (const update of buffer.retrieveUpdates()) apply(update);
  };
  const timer = setInterval(drain, DRAIN_EVERY_MS);
  timer.unref();
  return { drain, stop: () => clearInterval(timer) };
}
