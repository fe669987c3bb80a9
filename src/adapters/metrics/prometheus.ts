// MetricsProvider on the Prometheus HTTP API. The canary judgment trusts this
// file to never turn "no answer" into a number: an empty vector, NaN or Inf is
// no-data, an ambiguous answer (several series) or any failure is query-error.
import { describeFetchFailure, requireHttpUrl, requireTimeoutMs } from '../http';
import type { InstantResult, MetricsProvider, RangeResult, ScrapeTarget } from './provider';

export interface PrometheusOptions {
  /** e.g. http://127.0.0.1:9090 (a path prefix such as /prometheus is kept). */
  baseUrl: string;
  /** Per request, covering connect, query evaluation and body. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

type Answer = { ok: true; data: unknown } | { ok: false; message: string; status?: number };
type Unusable = 'nan' | 'inf';

/** Longest piece of a Prometheus error body quoted in a message. */
const MAX_QUOTED = 500;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Thrown while reading a 200 answer that a signal cannot use; becomes query-error. */
class UnusableAnswer extends Error {}

export function createPrometheusProvider(options: PrometheusOptions): MetricsProvider {
  const baseUrl = requireHttpUrl(options.baseUrl, 'prometheus.baseUrl');
  const defaultTimeoutMs = requireTimeoutMs(options.timeoutMs, 'prometheus.timeoutMs');
  const doFetch = options.fetch ?? fetch;

  async function call(path: string, params: Record<string, string>, method: 'GET' | 'POST', timeoutMs: number): Promise<Answer> {
    const body = new URLSearchParams(params).toString();
    const url = `${baseUrl}${path}`;
    let status: number;
    let text: string;
    try {
      // POST keeps long queries out of URL length limits; Prometheus accepts both.
      const response = await doFetch(method === 'GET' ? `${url}?${body}` : url, {
        method,
        headers: method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
        body: method === 'POST' ? body : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      return { ok: false, message: describeFetchFailure(error, 'Prometheus', baseUrl, timeoutMs) };
    }
    const json = parseJson(text) as { status?: unknown; data?: unknown; errorType?: unknown; error?: unknown } | undefined;
    const detail =
      typeof json?.error === 'string'
        ? `${typeof json.errorType === 'string' ? `${json.errorType}: ` : ''}${json.error}`
        : text.trim().slice(0, MAX_QUOTED);
    if (status === 400 || status === 422) {
      return { ok: false, status, message: `Prometheus rejected the query (HTTP ${status}): ${detail}` };
    }
    if (status === 429 || status >= 500) {
      return { ok: false, status, message: `Prometheus unavailable at ${baseUrl}: HTTP ${status}${detail ? ` ${detail}` : ''}` };
    }
    if (status < 200 || status > 299) {
      return { ok: false, status, message: `unexpected HTTP ${status} from Prometheus at ${url}${detail ? `: ${detail}` : ''}` };
    }
    if (json === undefined) return { ok: false, status, message: `Prometheus at ${url} answered with a body that is not JSON` };
    if (json.status !== 'success') return { ok: false, status, message: `Prometheus answered ${detail || 'without success'}` };
    return { ok: true, data: json.data };
  }

  return {
    async instant(query: string, at: Date = new Date(), timeoutMs = defaultTimeoutMs): Promise<InstantResult> {
      const context = { resolvedQuery: query, at: iso(at) };
      const answer = await call('/api/v1/query', { query, time: unixSeconds(at) }, 'POST', timeoutMs);
      if (!answer.ok) return { kind: 'query-error', ...errorFields(answer), ...context };
      try {
        const value = singleInstantValue(answer.data);
        if (value === null) return { kind: 'no-data', reason: 'empty', ...context };
        const unusable = unusableValue(value);
        if (unusable) return { kind: 'no-data', reason: unusable, ...context };
        return { kind: 'value', value, series: 1, ...context };
      } catch (error) {
        return { kind: 'query-error', message: messageOf(error), ...context };
      }
    },

    async range(query: string, start: Date, end: Date, stepSeconds: number, timeoutMs = defaultTimeoutMs): Promise<RangeResult> {
      const context = { resolvedQuery: query, start: iso(start), end: iso(end), stepSeconds };
      const answer = await call(
        '/api/v1/query_range',
        { query, start: unixSeconds(start), end: unixSeconds(end), step: String(stepSeconds) },
        'POST',
        timeoutMs,
      );
      if (!answer.ok) return { kind: 'query-error', ...errorFields(answer), ...context };
      try {
        const samples = singleRangeSeries(answer.data);
        if (samples.length === 0) return { kind: 'no-data', reason: 'empty', ...context };
        // Steps where the expression is NaN or Inf (e.g. 0/0) carry no measurement; drop them.
        const values = samples.filter((value) => unusableValue(value) === null);
        if (values.length === 0) {
          const reason = samples.some((value) => unusableValue(value) === 'nan') ? 'nan' : 'inf';
          return { kind: 'no-data', reason, ...context };
        }
        return { kind: 'values', values, ...context };
      } catch (error) {
        return { kind: 'query-error', message: messageOf(error), ...context };
      }
    },

    async targets(): Promise<ScrapeTarget[]> {
      const answer = await call('/api/v1/targets', { state: 'active' }, 'GET', defaultTimeoutMs);
      if (!answer.ok) throw new Error(`cannot list scrape targets: ${answer.message}`);
      const active = (answer.data as { activeTargets?: unknown } | undefined)?.activeTargets;
      if (!Array.isArray(active)) throw new Error(`cannot list scrape targets: Prometheus at ${baseUrl} sent no activeTargets`);
      return active.map(toScrapeTarget);
    },
  };
}

/** The value of a one-series instant answer, or null for an empty vector. */
function singleInstantValue(data: unknown): string | null {
  const { resultType, result } = (data ?? {}) as { resultType?: unknown; result?: unknown };
  if (resultType === 'scalar') return sampleValue(result);
  if (resultType === 'matrix') {
    throw new UnusableAnswer('query returned a range vector; a signal query must return an instant vector or a scalar');
  }
  if (resultType !== 'vector' || !Array.isArray(result)) {
    throw new UnusableAnswer(`query returned a ${String(resultType)}; a signal query must return an instant vector or a scalar`);
  }
  if (result.length === 0) return null;
  requireOneSeries(result.length);
  const series = result[0] as { value?: unknown; histogram?: unknown };
  if (series.value === undefined && series.histogram !== undefined) {
    throw new UnusableAnswer('query returned a native histogram; a signal query must return a number (e.g. histogram_quantile)');
  }
  return sampleValue(series.value);
}

/** The samples of a one-series range answer (empty when there is no series). */
function singleRangeSeries(data: unknown): string[] {
  const { resultType, result } = (data ?? {}) as { resultType?: unknown; result?: unknown };
  if (resultType !== 'matrix' || !Array.isArray(result)) {
    throw new UnusableAnswer(`range query returned a ${String(resultType)}, expected a matrix`);
  }
  if (result.length === 0) return [];
  requireOneSeries(result.length);
  const { values } = result[0] as { values?: unknown };
  if (!Array.isArray(values)) {
    throw new UnusableAnswer('range query returned a series without float samples (native histogram?); a signal query must return numbers');
  }
  return values.map(sampleValue);
}

function requireOneSeries(count: number): void {
  if (count > 1) throw new UnusableAnswer(`query returned ${count} series; a signal query must aggregate to one`);
}

function sampleValue(sample: unknown): string {
  const value = Array.isArray(sample) ? sample[1] : undefined;
  if (typeof value !== 'string') throw new UnusableAnswer(`Prometheus sent a sample without a value: ${JSON.stringify(sample)}`);
  if (unusableValue(value) === null && !NUMBER.test(value)) throw new UnusableAnswer(`Prometheus sent a value that is not a number: ${value}`);
  return value;
}

/** Prometheus spells non-finite floats NaN, +Inf and -Inf. */
function unusableValue(value: string): Unusable | null {
  if (value === 'NaN') return 'nan';
  if (/^[+-]?Inf$/.test(value)) return 'inf';
  return null;
}

function toScrapeTarget(raw: unknown): ScrapeTarget {
  const target = (raw ?? {}) as {
    labels?: Record<string, string>;
    scrapePool?: string;
    health?: string;
    lastError?: string;
    lastScrape?: string;
  };
  const health = target.health === 'up' || target.health === 'down' ? target.health : 'unknown';
  return {
    job: target.labels?.job ?? target.scrapePool ?? '',
    instance: target.labels?.instance ?? '',
    health,
    lastError: target.lastError ?? '',
    lastScrape: target.lastScrape ?? '',
  };
}

function errorFields(answer: { message: string; status?: number }): { message: string; status?: number } {
  return answer.status === undefined ? { message: answer.message } : { message: answer.message, status: answer.status };
}

/** An invalid Date reaches Prometheus as "NaN" and comes back as a query-error instead of throwing here. */
function iso(date: Date): string {
  return Number.isNaN(date.getTime()) ? 'Invalid Date' : date.toISOString();
}

function unixSeconds(date: Date): string {
  return (date.getTime() / 1000).toFixed(3);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function messageOf(error: unknown): string {
  return error instanceof UnusableAnswer ? error.message : `unexpected answer from Prometheus: ${error instanceof Error ? error.message : String(error)}`;
}
