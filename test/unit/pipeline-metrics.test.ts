// The worker's pipeline metrics as Prometheus reads them (the exposition text).
// Visibility is read through an injected function here; the dashboard
// integration test reads it from the real Temporal server.
import { createPipelineMetrics } from '../../src/metrics/pipeline';
import { PHASES } from '../../src/plan/schema';

const info = {} as never; // sink functions receive the workflow's info first; these ignore it

function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('stage transitions, rollbacks and evaluations count what the activities report', async () => {
  const m = createPipelineMetrics();
  m.stageEntered('spark-trading', 1);
  m.stageEntered('spark-trading', 5);
  m.stageEntered('spark-trading', 5);
  m.rolledBack('spark-trading', 'error_rate_5xx');
  m.evaluated(0.2, [
    { kind: 'value', value: '1', resolvedQuery: 'q', at: 'now' } as never,
    { kind: 'query-error', message: 'boom', resolvedQuery: 'q', at: 'now' } as never,
  ]);
  const text = await m.registry.metrics();
  expect(sample(text, 'spark_release_stage_transitions_total', 'service="spark-trading",traffic="5"')).toBe(2);
  expect(sample(text, 'spark_release_rollbacks_total', 'service="spark-trading",cause="error_rate_5xx"')).toBe(1);
  expect(sample(text, 'spark_release_evaluation_duration_seconds_count')).toBe(1);
  expect(sample(text, 'spark_release_evaluation_duration_seconds_bucket', 'le="0.25"')).toBe(1);
  expect(sample(text, 'spark_release_evaluation_duration_seconds_bucket', 'le="0.1"')).toBe(0);
  expect(sample(text, 'spark_release_metric_queries_total', 'result="query-error"')).toBe(1);
  expect(sample(text, 'spark_release_metric_queries_total', 'result="value"')).toBe(1);
});

test('every query result kind is a series from the start: zero errors is a measurement', async () => {
  const text = await createPipelineMetrics().registry.metrics();
  for (const result of ['value', 'no-data', 'query-error']) expect(sample(text, 'spark_release_metric_queries_total', `result="${result}"`)).toBe(0);
});

test('a gate closing through the workflow sink is observed with its outcome', async () => {
  const m = createPipelineMetrics();
  m.sinks.pipeline.gateClosed.fn(info, 'go', 'go', 42);
  m.sinks.pipeline.gateClosed.fn(info, 'go', 'timed-out', 1800);
  const text = await m.registry.metrics();
  expect(sample(text, 'spark_release_gate_wait_seconds_sum', 'gate="go",outcome="go"')).toBe(42);
  expect(sample(text, 'spark_release_gate_wait_seconds_count', 'gate="go",outcome="timed-out"')).toBe(1);
  expect(m.sinks.pipeline.gateClosed.callDuringReplay).toBeFalsy();
});

test('releases by phase: every phase is a series, unknown phases are kept, a failed read leaves no series', async () => {
  let answer: () => Promise<Record<string, number>> = async () => ({ canary: 2, unknown: 1 });
  const m = createPipelineMetrics({ releasesByPhase: () => answer() });
  const text = await m.registry.metrics();
  for (const phase of PHASES) expect(sample(text, 'spark_release_releases', `phase="${phase}"`)).toBe(phase === 'canary' ? 2 : 0);
  expect(sample(text, 'spark_release_releases', 'phase="unknown"')).toBe(1);

  const failing = createPipelineMetrics({ releasesByPhase: async () => { throw new Error('visibility unavailable'); } });
  const errors: string[] = [];
  const spy = jest.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
  try {
    expect(sample(await failing.registry.metrics(), 'spark_release_releases', 'phase="canary"')).toBeUndefined();
  } finally {
    spy.mockRestore();
  }
  expect(errors.join('\n')).toMatch(/cannot list releases: visibility unavailable/);
  answer = async () => ({ canary: 5 });
  // Read at most every 5 s: a scrape right after the first still shows the first answer.
  expect(sample(await m.registry.metrics(), 'spark_release_releases', 'phase="canary"')).toBe(2);
});
