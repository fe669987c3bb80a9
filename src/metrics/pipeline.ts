// The pipeline's own metrics, served by the worker on /metrics (prom-client).
// Activities report what they did to the world (stage weights, rollbacks,
// evaluations); the workflow reports gate decisions through a sink (no history
// events); releases by phase are read from Temporal's visibility store, the one
// place that knows every running release whichever worker runs it.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Client } from '@temporalio/client';
import type { InjectedSinks } from '@temporalio/worker';
import type { InstantResult } from '../adapters/metrics/provider';
import { PHASES } from '../plan/schema';
import { SEARCH_ATTRIBUTES, type PipelineSinks } from '../workflows/visibility';

/** Running releases per phase; throws when visibility cannot be read. */
export type ReleasesByPhase = () => Promise<Record<string, number>>;

/** Counts running release workflows by their SparkPhase attribute ("unknown" when unset). */
export function releasesByPhaseFrom(client: Client): ReleasesByPhase {
  return async () => {
    const counts: Record<string, number> = {};
    for await (const wf of client.workflow.list({ query: 'WorkflowType = "releaseWorkflow" AND ExecutionStatus = "Running"' })) {
      const phase = wf.typedSearchAttributes.get(SEARCH_ATTRIBUTES.phase) ?? 'unknown';
      counts[phase] = (counts[phase] ?? 0) + 1;
    }
    return counts;
  };
}

export interface PipelineMetrics {
  readonly registry: Registry;
  /** The canary took a stage's traffic. */
  stageEntered(service: string, traffic: number): void;
  rolledBack(service: string, cause: string): void;
  /** One evaluation: how long its queries took and what each returned. */
  evaluated(seconds: number, results: InstantResult[]): void;
  readonly sinks: InjectedSinks<PipelineSinks>;
}

const RESULT_KINDS: InstantResult['kind'][] = ['value', 'no-data', 'query-error'];
/** Visibility is read at most this often, however often Prometheus scrapes. */
const RELEASES_CACHE_MS = 5000;

export function createPipelineMetrics(opts: { releasesByPhase?: ReleasesByPhase } = {}): PipelineMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, labels: { component: 'spark-release-worker' } });
  const registers = [registry];

  const stageTransitions = new Counter({
    name: 'spark_release_stage_transitions_total',
    help: 'Canary stages entered, by service and the traffic share the stage took.',
    labelNames: ['service', 'traffic'],
    registers,
  });
  const rollbacks = new Counter({
    name: 'spark_release_rollbacks_total',
    help: 'Rollbacks completed, by service and cause (the trigger or signal id, abort, hold-timeout, ...).',
    labelNames: ['service', 'cause'],
    registers,
  });
  const evaluationSeconds = new Histogram({
    name: 'spark_release_evaluation_duration_seconds',
    help: 'Time one canary evaluation took to query every signal and trigger.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const queries = new Counter({
    name: 'spark_release_metric_queries_total',
    help: 'Signal and trigger queries by result: value, no-data or query-error.',
    labelNames: ['result'],
    registers,
  });
  // Every result kind is a series from the start: zero query errors is a measurement, not a gap.
  for (const result of RESULT_KINDS) queries.inc({ result }, 0);
  const gateWait = new Histogram({
    name: 'spark_release_gate_wait_seconds',
    help: 'How long a gate stayed open before it closed, by gate and outcome (go, no-go, timed-out).',
    labelNames: ['gate', 'outcome'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
    registers,
  });

  if (opts.releasesByPhase) {
    const read = opts.releasesByPhase;
    let cached: { at: number; counts: Record<string, number> } | null = null;
    new Gauge({
      name: 'spark_release_releases',
      help: 'Running releases by phase (from Temporal visibility: the SparkPhase search attribute).',
      labelNames: ['phase'],
      registers,
      async collect() {
        this.reset();
        if (!cached || Date.now() - cached.at > RELEASES_CACHE_MS) {
          try {
            cached = { at: Date.now(), counts: await read() };
          } catch (err) {
            // No series rather than stale ones: a panel then shows a gap, not a wrong count.
            cached = null;
            console.error(`worker metrics: cannot list releases: ${(err as Error).message}`);
            return;
          }
        }
        // Every phase is a series, 0 included; "unknown" counts releases without the attribute.
        for (const phase of PHASES) this.set({ phase }, 0);
        for (const [phase, n] of Object.entries(cached.counts)) this.set({ phase }, n);
      },
    });
  }

  return {
    registry,
    stageEntered: (service, traffic) => stageTransitions.inc({ service, traffic: String(traffic) }),
    rolledBack: (service, cause) => rollbacks.inc({ service, cause }),
    evaluated(seconds, results) {
      evaluationSeconds.observe(seconds);
      for (const r of results) queries.inc({ result: r.kind });
    },
    sinks: {
      pipeline: {
        gateClosed: { fn: (_info, gate, outcome, waitedSeconds) => gateWait.observe({ gate, outcome }, waitedSeconds) },
      },
    },
  };
}
