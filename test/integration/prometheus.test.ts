// The Prometheus provider against a real Prometheus (started by
// `bash scripts/services.sh up`), which scrapes the metrics this test serves
// on 127.0.0.1:$SPARK_FIXTURE_METRICS_PORT as job "fixture".
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { createPrometheusProvider } from '../../src/adapters/metrics/prometheus';
import type { InstantResult } from '../../src/adapters/metrics/provider';
import { loadConfig } from '../../src/config';

jest.setTimeout(60_000);

const prometheusUrl = loadConfig().prometheusUrl;
const fixturePort = Number(process.env.SPARK_FIXTURE_METRICS_PORT ?? '18095');
const fixtureInstance = `127.0.0.1:${fixturePort}`;
/** Prometheus scrapes every second; this bounds every wait for a scrape. */
const SCRAPE_WAIT_MS = 30_000;

const provider = createPrometheusProvider({ baseUrl: prometheusUrl, timeoutMs: 5000 });

const registry = new Registry();
new Gauge({ name: 'spark_adapter_fixture_gauge', help: 'known value', registers: [registry] }).set(42.5);
new Counter({ name: 'spark_adapter_fixture_requests_total', help: 'known count', registers: [registry] }).inc(7);
new Gauge({ name: 'spark_adapter_fixture_nan', help: 'NaN', registers: [registry] }).set(NaN);
new Gauge({ name: 'spark_adapter_fixture_inf', help: '+Inf', registers: [registry] }).set(Infinity);
const tracks = new Gauge({ name: 'spark_adapter_fixture_tracks', help: 'two series', labelNames: ['track'], registers: [registry] });
tracks.set({ track: 'stable' }, 1);
tracks.set({ track: 'canary' }, 2);

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

function listen<T extends net.Server>(server: T, port = 0): Promise<T> {
  servers.push(server);
  // Prometheus keeps its scrape connection open; afterAll closes them all.
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function urlOf(server: net.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function poll<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + SCRAPE_WAIT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const result = await attempt();
      if (result !== undefined) return result;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} within ${SCRAPE_WAIT_MS / 1000}s${last ? ` (last error: ${String(last)})` : ''}`);
}

beforeAll(async () => {
  let targets;
  try {
    targets = await provider.targets();
  } catch (error) {
    throw new Error(
      `Prometheus is not reachable at ${prometheusUrl} (${(error as Error).message}). ` +
        'Start it with `bash scripts/services.sh up`, or set PROMETHEUS_URL to a Prometheus that scrapes ' +
        `${fixtureInstance} as job "fixture".`,
    );
  }
  if (!targets.some((t) => t.job === 'fixture' && t.instance === fixtureInstance)) {
    throw new Error(`Prometheus at ${prometheusUrl} has no scrape job "fixture" for ${fixtureInstance}; start it with \`bash scripts/services.sh up\``);
  }
  const metrics = http.createServer((_request, response) => {
    void registry.metrics().then((body) => {
      response.setHeader('content-type', registry.contentType);
      response.end(body);
    });
  });
  await listen(metrics, fixturePort).catch((error: Error) => {
    throw new Error(`cannot serve fixture metrics on ${fixtureInstance} (${error.message}); is another test using it?`);
  });
  await poll('Prometheus did not scrape the fixture metrics', async () => {
    const result = await provider.instant('spark_adapter_fixture_gauge');
    const upNow = (await provider.targets()).some((t) => t.job === 'fixture' && t.instance === fixtureInstance && t.health === 'up');
    return result.kind === 'value' && upNow ? true : undefined;
  });
});

afterAll(async () => {
  const closed = Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  sockets.forEach((socket) => socket.destroy());
  await closed;
});

describe('instant queries', () => {
  it('returns the one series value as Prometheus sent it, with the query and evaluation time', async () => {
    const at = new Date();
    const query = 'spark_adapter_fixture_gauge{job="fixture"}';
    await expect(provider.instant(query, at)).resolves.toEqual({
      kind: 'value',
      value: '42.5',
      series: 1,
      resolvedQuery: query,
      at: at.toISOString(),
    });
    await expect(provider.instant('spark_adapter_fixture_requests_total')).resolves.toMatchObject({ kind: 'value', value: '7' });
  });

  it('returns a scalar result as a value', async () => {
    await expect(provider.instant('scalar(spark_adapter_fixture_gauge) * 2')).resolves.toMatchObject({ kind: 'value', value: '85' });
  });

  it('reports an empty vector as no-data, not as a value', async () => {
    await expect(provider.instant('spark_adapter_fixture_gauge{track="no-such-track"}')).resolves.toMatchObject({
      kind: 'no-data',
      reason: 'empty',
    });
  });

  it('reports NaN and Inf as no-data', async () => {
    await expect(provider.instant('spark_adapter_fixture_nan')).resolves.toMatchObject({ kind: 'no-data', reason: 'nan' });
    await expect(provider.instant('spark_adapter_fixture_inf')).resolves.toMatchObject({ kind: 'no-data', reason: 'inf' });
    // The everyday way to get there: an error ratio while nothing was requested.
    await expect(provider.instant('spark_adapter_fixture_gauge * 0 / 0')).resolves.toMatchObject({ kind: 'no-data', reason: 'nan' });
  });

  it('refuses more than one series instead of picking one', async () => {
    await expect(provider.instant('spark_adapter_fixture_tracks')).resolves.toMatchObject({
      kind: 'query-error',
      message: 'query returned 2 series; a signal query must aggregate to one',
    });
    await expect(provider.instant('sum(spark_adapter_fixture_tracks)')).resolves.toMatchObject({ kind: 'value', value: '3' });
  });

  it('refuses a range vector', async () => {
    await expect(provider.instant('spark_adapter_fixture_gauge[1m]')).resolves.toMatchObject({
      kind: 'query-error',
      message: expect.stringContaining('range vector'),
    });
  });

  it("passes on Prometheus' own error text and status for a bad query", async () => {
    const parseError = await provider.instant('sum(');
    expect(parseError).toMatchObject({ kind: 'query-error', status: 400, resolvedQuery: 'sum(' });
    expect((parseError as Extract<InstantResult, { kind: 'query-error' }>).message).toMatch(/^Prometheus rejected the query \(HTTP 400\): bad_data: .*parse error/);

    const executionError = await provider.instant('spark_adapter_fixture_tracks + on() spark_adapter_fixture_tracks');
    expect(executionError).toMatchObject({ kind: 'query-error', status: 422, message: expect.stringContaining('many-to-many matching not allowed') });
  });
});

describe('range queries', () => {
  it('returns the samples of the one series', async () => {
    const end = new Date();
    const start = new Date(end.getTime() - 30_000);
    const result = await provider.range('spark_adapter_fixture_gauge', start, end, 1);
    expect(result).toMatchObject({ kind: 'values', resolvedQuery: 'spark_adapter_fixture_gauge', start: start.toISOString(), end: end.toISOString(), stepSeconds: 1 });
    if (result.kind !== 'values') throw new Error('unreachable');
    expect(result.values.length).toBeGreaterThan(0);
    expect(new Set(result.values)).toEqual(new Set(['42.5']));
  });

  it('reports nothing, only NaN or several series without values', async () => {
    const end = new Date();
    const start = new Date(end.getTime() - 30_000);
    await expect(provider.range('spark_adapter_fixture_gauge{track="none"}', start, end, 1)).resolves.toMatchObject({ kind: 'no-data', reason: 'empty' });
    await expect(provider.range('spark_adapter_fixture_nan', start, end, 1)).resolves.toMatchObject({ kind: 'no-data', reason: 'nan' });
    await expect(provider.range('spark_adapter_fixture_tracks', start, end, 1)).resolves.toMatchObject({
      kind: 'query-error',
      message: 'query returned 2 series; a signal query must aggregate to one',
    });
  });
});

describe('scrape targets', () => {
  it('lists the fixture target as up', async () => {
    const targets = await provider.targets();
    expect(targets).toContainEqual(expect.objectContaining({ job: 'fixture', instance: fixtureInstance, health: 'up', lastError: '' }));
  });
});

describe('when Prometheus cannot answer', () => {
  it('turns a refused connection into a query-error (and targets() into a clear throw)', async () => {
    const closed = await listen(net.createServer());
    const url = urlOf(closed);
    await new Promise((resolve) => closed.close(resolve));
    const down = createPrometheusProvider({ baseUrl: url, timeoutMs: 2000 });

    const result = await down.instant('up');
    expect(result).toEqual({
      kind: 'query-error',
      message: `Prometheus unreachable at ${url}: ECONNREFUSED`,
      resolvedQuery: 'up',
      at: expect.any(String),
    });
    await expect(down.range('up', new Date(Date.now() - 60_000), new Date(), 15)).resolves.toMatchObject({ kind: 'query-error', message: `Prometheus unreachable at ${url}: ECONNREFUSED` });
    await expect(down.targets()).rejects.toThrow(`cannot list scrape targets: Prometheus unreachable at ${url}: ECONNREFUSED`);
  });

  it('gives up after timeoutMs on a server that never answers', async () => {
    const silent = await listen(net.createServer(() => undefined));
    const url = urlOf(silent);
    const stuck = createPrometheusProvider({ baseUrl: url, timeoutMs: 300 });
    await expect(stuck.instant('up')).resolves.toMatchObject({ kind: 'query-error', message: `Prometheus at ${url} did not answer within 300 ms` });
  });

  it('reports an overloaded proxy in front of Prometheus (HTTP 503) as unavailable', async () => {
    const proxy = await listen(
      http.createServer((_request, response) => {
        response.statusCode = 503;
        response.end('upstream connect error');
      }),
    );
    const url = urlOf(proxy);
    const overloaded = createPrometheusProvider({ baseUrl: url, timeoutMs: 2000 });
    await expect(overloaded.instant('up')).resolves.toMatchObject({
      kind: 'query-error',
      status: 503,
      message: `Prometheus unavailable at ${url}: HTTP 503 upstream connect error`,
    });
  });
});
