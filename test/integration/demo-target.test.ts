// The demo target as the pipeline sees it: real child processes on loopback, read
// through their /metrics endpoints (no Prometheus needed here).
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { faultCatalog, faultKinds, parseFault, type FaultKind } from '../../demo/faults';
import { InputError } from '../../demo/http-json';
import { httpDurationBuckets } from '../../demo/service-metrics';
import { startDemoTarget, type DemoTarget } from '../../demo/target';

// Polls below wait up to 30 s for a fault to show; jest's 5 s default is too short.
jest.setTimeout(90_000);

// ---- Prometheus text format, just enough to read our own endpoints ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
}

function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

function matching(scrape: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return scrape.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function total(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return matching(scrape, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** Polls `probe` until it returns a value `ok` accepts; fails with the last value seen. */
async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached within ${timeoutMs} ms; last value ${JSON.stringify(last).slice(0, 300)}`);
    }
    await sleep(250);
    last = await probe();
  }
  return last;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function processGroupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function putJson(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'PUT', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** Which instance answered a quote sent through the router. */
function quoteVia(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/api/quote?symbol=GARAN`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers['x-spark-track'])));
      })
      .on('error', reject);
  });
}

async function tracksOf(url: string, requests: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let sent = 0; sent < requests; sent += 20) {
    const batch = await Promise.all(Array.from({ length: Math.min(20, requests - sent) }, () => quoteVia(url)));
    for (const track of batch) counts[track] = (counts[track] ?? 0) + 1;
  }
  return counts;
}

// ---- The target under test ----

const labelsOf = (track: 'stable' | 'canary') => ({ service: 'spark-trading', track, version: track === 'stable' ? 'v1.3.0' : 'v1.4.0' });
let target: DemoTarget;
let ports: { router: number; stable: number; canary: number; routerAdmin: number };

beforeAll(async () => {
  ports = { router: await freePort(), stable: await freePort(), canary: await freePort(), routerAdmin: await freePort() };
  target = await startDemoTarget({
    ports,
    stableVersion: 'v1.3.0',
    canaryVersion: 'v1.4.0',
    idempotencyTtlSeconds: 3,
    canaryPercent: 50,
    load: { rps: 60, durationMs: 10 * 60 * 1000, riskyOrdersPerMinute: 0, cspReportsPerMinute: 0 },
  });
}, 60_000);

afterAll(async () => {
  await target?.stop();
  agent.destroy();
});

describe('metrics', () => {
  const appMetrics: Record<string, string> = {
    http_request_duration_seconds: 'histogram',
    ws_staleness_seconds: 'gauge',
    market_feed_staleness_seconds: 'gauge',
    ws_disconnects_total: 'counter',
    risk_blocks_total: 'counter',
    idempotency_requests_total: 'counter',
    idempotency_conflicts_total: 'counter',
    idempotency_keys_stored: 'gauge',
    csp_violations_total: 'counter',
    spark_eventloop_lag_p95_seconds: 'gauge',
    db_pool_active_connections: 'gauge',
    db_pool_max_connections: 'gauge',
    outbox_lag_seconds: 'gauge',
    decimal_precision_errors_total: 'counter',
    pg_dead_tuples: 'gauge',
  };
  const processMetrics: Record<string, string> = {
    process_cpu_seconds_total: 'counter',
    process_resident_memory_bytes: 'gauge',
    nodejs_heap_size_used_bytes: 'gauge',
    nodejs_gc_duration_seconds: 'histogram',
  };

  test.each(['stable', 'canary'] as const)('%s exposes every metric with its type and the default labels', async (track) => {
    // Wait for traffic and a garbage collection so every series has samples.
    const m = await eventually(
      () => scrape(target.urls[track]),
      (s) => total(s, 'http_request_duration_seconds_count') >= 50 && total(s, 'nodejs_gc_duration_seconds_count') > 0,
      `${track} traffic`,
    );
    for (const [name, type] of Object.entries({ ...appMetrics, ...processMetrics })) {
      expect({ name, type: m.types.get(name) }).toEqual({ name, type });
      const series = type === 'histogram' ? `${name}_count` : name;
      const samples = matching(m, series);
      expect({ name, samples: samples.length > 0 }).toEqual({ name, samples: true });
      for (const sample of samples) expect(sample.labels).toMatchObject(labelsOf(track));
    }
    expect(matching(m, 'market_feed_staleness_seconds')[0]?.labels.feed).toBe('bist');
    const quoteBuckets = matching(m, 'http_request_duration_seconds_bucket', { route: '/api/quote', method: 'GET', status_code: '200' });
    expect(quoteBuckets.map((s) => s.labels.le)).toEqual([...httpDurationBuckets.map(String), '+Inf']);
    expect(total(m, 'db_pool_max_connections')).toBe(20);
  });

  test('a healthy instance stays inside the golden-signal thresholds', async () => {
    const m = await scrape(target.urls.stable);
    const count = total(m, 'http_request_duration_seconds_count');
    const errors = matching(m, 'http_request_duration_seconds_count').filter((s) => s.labels.status_code?.startsWith('5'));
    // p95 <= 200 ms: at least 95% of requests fall in the 0.2 s bucket.
    expect(total(m, 'http_request_duration_seconds_bucket', { le: '0.2' })).toBeGreaterThanOrEqual(0.95 * count);
    expect(errors.reduce((sum, s) => sum + s.value, 0) / count).toBeLessThan(0.01);
    expect(total(m, 'spark_eventloop_lag_p95_seconds')).toBeLessThan(0.05);
    expect(total(m, 'ws_staleness_seconds')).toBeLessThan(30);
    expect(total(m, 'db_pool_active_connections') / total(m, 'db_pool_max_connections')).toBeLessThan(0.5);
    expect(total(m, 'idempotency_conflicts_total')).toBe(0);
  });

  test('the router exposes its weight and per-track request counts', async () => {
    const m = await scrape(target.urls.routerAdmin);
    expect(m.types.get('router_canary_weight_percent')).toBe('gauge');
    expect(m.types.get('router_requests_total')).toBe('counter');
    expect(matching(m, 'router_requests_total').map((s) => s.labels.track).sort()).toEqual(['canary', 'stable']);
  });
});

describe('router', () => {
  const routed = async (track: string) => total(await scrape(target.urls.routerAdmin), 'router_requests_total', { track });

  test('at 25% the canary gets its share', async () => {
    expect(await target.setWeight(25)).toMatchObject({ canaryPercent: 25 });
    const [canaryBefore, stableBefore] = [await routed('canary'), await routed('stable')];
    const counts = await tracksOf(target.urls.router, 400);
    const [canaryDelta, stableDelta] = [(await routed('canary')) - canaryBefore, (await routed('stable')) - stableBefore];
    // Our 400 interleave with the load's requests: binomial(400, 0.25) has sd 8.7; allow 4 sd.
    expect(counts.canary ?? 0).toBeGreaterThanOrEqual(65);
    expect(counts.canary ?? 0).toBeLessThanOrEqual(135);
    expect((counts.canary ?? 0) + (counts.stable ?? 0)).toBe(400);
    // Across everything routed, smooth weighted round-robin stays within 1 of the exact share.
    expect(Math.abs(canaryDelta - 0.25 * (canaryDelta + stableDelta))).toBeLessThanOrEqual(1);
    expect(await scrape(target.urls.routerAdmin).then((m) => total(m, 'router_canary_weight_percent'))).toBe(25);
  });

  test('at 0% the canary gets nothing, at 100% everything', async () => {
    await target.setWeight(0);
    const canaryBefore = await routed('canary');
    expect(await tracksOf(target.urls.router, 200)).toEqual({ stable: 200 });
    expect(await routed('canary')).toBe(canaryBefore);

    await target.setWeight(100);
    const stableBefore = await routed('stable');
    expect(await tracksOf(target.urls.router, 100)).toEqual({ canary: 100 });
    expect(await routed('stable')).toBe(stableBefore);
  });

  test('setting the weight is absolute and idempotent; bad input names the field', async () => {
    await target.setWeight(5);
    expect(await target.setWeight(5)).toEqual({ canaryPercent: 5, previousCanaryPercent: 5 });
    expect(await fetch(`${target.urls.routerAdmin}/weight`).then((r) => r.json())).toEqual({ canaryPercent: 5 });
    for (const bad of [{ canaryPercent: 101 }, { canaryPercent: -1 }, { canaryPercent: '25' }, {}]) {
      const answer = await putJson(`${target.urls.routerAdmin}/weight`, bad);
      expect(answer).toMatchObject({ status: 400, body: { field: 'canaryPercent' } });
    }
    expect(await putJson(`${target.urls.routerAdmin}/weight`, { canaryPercent: 5, percent: 9 })).toMatchObject({
      status: 400,
      body: { field: 'percent' },
    });
    expect(await putJson(`${target.urls.routerAdmin}/weight`, 'not json')).toMatchObject({ status: 400, body: { field: 'body' } });
    expect(await fetch(`${target.urls.routerAdmin}/weight`).then((r) => r.json())).toEqual({ canaryPercent: 5 });
  });

  test('WebSocket upgrades are proxied and receive market ticks', async () => {
    const socket = new WebSocket(`${target.urls.router.replace('http', 'ws')}/ws`);
    const tick = await new Promise<{ type: string; quotes: unknown[] }>((resolve, reject) => {
      socket.once('message', (data) => resolve(JSON.parse(String(data))));
      socket.once('error', reject);
    });
    socket.close();
    expect(tick.type).toBe('tick');
    expect(tick.quotes).toHaveLength(5);
  });
});

describe('faults', () => {
  const canary = () => scrape(target.urls.canary);
  const stable = () => scrape(target.urls.stable);
  const faultUrl = () => `${target.urls.canary}/admin/fault`;

  beforeAll(async () => {
    // Half the load on the canary, so order-driven faults have orders to act on.
    await target.setWeight(50);
  });

  afterEach(async () => {
    await target.clearFault('canary');
  });

  /** Runs `check` with `kind` active on the canary and confirms the fault is listed while active. */
  async function withFault(kind: FaultKind, intensity: number | undefined, check: () => Promise<void>): Promise<void> {
    const active = await target.setFault('canary', { kind, intensity });
    expect(active).toMatchObject({ kind, intensity: intensity ?? faultCatalog[kind].intensity?.default ?? null });
    expect(await fetch(faultUrl()).then((r) => r.json())).toMatchObject({ active: { kind } });
    await check();
    expect(await target.clearFault('canary')).toMatchObject({ kind });
    expect(await fetch(faultUrl()).then((r) => r.json())).toEqual({ active: null });
  }

  /** Counter/histogram deltas on the canary from now on. */
  async function deltaFrom(name: string, labels: Record<string, string> = {}) {
    const before = total(await canary(), name, labels);
    return async () => total(await canary(), name, labels) - before;
  }

  /** Mean of a histogram's new observations on the canary from now on. */
  async function meanFrom(histogram: string, labels: Record<string, string> = {}) {
    const [sum, count] = [await deltaFrom(`${histogram}_sum`, labels), await deltaFrom(`${histogram}_count`, labels)];
    return { count, mean: async () => (await sum()) / (await count()) };
  }

  const gauge = (name: string, labels: Record<string, string> = {}) => async () => total(await canary(), name, labels);

  interface FaultCheck {
    title: string;
    intensity?: number;
    /** `active(during)` sets the fault, runs `during`, and clears it. */
    run(active: (during: () => Promise<void>) => Promise<void>): Promise<void>;
  }

  // A Record, so the compiler insists that every fault kind has its check.
  const faultChecks: Record<FaultKind, FaultCheck> = {
    latency: {
      title: 'raises the mean API latency of the canary only, until cleared',
      intensity: 300,
      async run(active) {
        await active(async () => {
          const quotes = await meanFrom('http_request_duration_seconds', { route: '/api/quote' });
          await eventually(quotes.count, (n) => n >= 30, 'canary quotes under latency');
          expect(await quotes.mean()).toBeGreaterThan(0.25);
          const m = await stable();
          const stableCount = total(m, 'http_request_duration_seconds_count', { route: '/api/quote' });
          expect(total(m, 'http_request_duration_seconds_bucket', { route: '/api/quote', le: '0.2' })).toBeGreaterThanOrEqual(0.95 * stableCount);
        });
        const quotes = await meanFrom('http_request_duration_seconds', { route: '/api/quote' });
        await eventually(quotes.count, (n) => n >= 30, 'canary quotes after clearing');
        expect(await quotes.mean()).toBeLessThan(0.2);
      },
    },
    'error-rate': {
      title: 'answers about the given share of API requests with 503',
      intensity: 0.5,
      async run(active) {
        await active(async () => {
          const [errors, all] = [await deltaFrom('http_request_duration_seconds_count', { status_code: '503' }), await deltaFrom('http_request_duration_seconds_count')];
          await eventually(all, (n) => n >= 100, 'canary requests under error-rate');
          const share = (await errors()) / (await all());
          expect(share).toBeGreaterThan(0.3);
          expect(share).toBeLessThan(0.7);
        });
      },
    },
    'event-loop-block': {
      title: 'drives the canary event-loop lag p95 above 50 ms (not the stable one), and it recovers',
      intensity: 200,
      async run(active) {
        await active(async () => {
          await eventually(gauge('spark_eventloop_lag_p95_seconds'), (v) => v > 0.05, 'canary event-loop lag');
          expect(total(await stable(), 'spark_eventloop_lag_p95_seconds')).toBeLessThan(0.05);
        });
        await eventually(gauge('spark_eventloop_lag_p95_seconds'), (v) => v < 0.05, 'lag after clearing');
      },
    },
    'memory-leak': {
      title: 'grows resident memory and the V8 heap',
      intensity: 32,
      async run(active) {
        const before = await canary();
        const growth = (m: Scrape, name: string) => total(m, name) - total(before, name);
        await active(async () => {
          await eventually(
            canary,
            (m) => growth(m, 'process_resident_memory_bytes') > 64 * 2 ** 20 && growth(m, 'nodejs_heap_size_used_bytes') > 32 * 2 ** 20,
            'canary memory growth',
          );
        });
      },
    },
    'missing-metrics': {
      title: 'drops the application metrics while the target keeps answering',
      async run(active) {
        await active(async () => {
          const m = await canary();
          expect(matching(m, 'http_request_duration_seconds_count')).toHaveLength(0);
          expect(matching(m, 'spark_eventloop_lag_p95_seconds')).toHaveLength(0);
          expect(matching(m, 'process_cpu_seconds_total').length).toBeGreaterThan(0);
          expect(matching(await stable(), 'http_request_duration_seconds_count').length).toBeGreaterThan(0);
        });
        expect(matching(await canary(), 'http_request_duration_seconds_count').length).toBeGreaterThan(0);
      },
    },
    'ws-stale': {
      title: 'stops the ticks: WebSocket and BIST feed staleness grow, then recover',
      async run(active) {
        await active(async () => {
          const m = await eventually(canary, (s) => total(s, 'ws_staleness_seconds') > 3, 'canary ws staleness');
          expect(total(m, 'market_feed_staleness_seconds', { feed: 'bist' })).toBeGreaterThan(3);
          expect(total(await stable(), 'ws_staleness_seconds')).toBeLessThan(3);
        });
        await eventually(gauge('ws_staleness_seconds'), (v) => v < 2, 'ws staleness after clearing');
      },
    },
    'gc-pressure': {
      title: 'raises the mean GC pause above 20 ms',
      intensity: 300,
      async run(active) {
        await active(async () => {
          const gc = await meanFrom('nodejs_gc_duration_seconds');
          await eventually(gc.count, (n) => n >= 8, 'collections under gc-pressure');
          expect(await gc.mean()).toBeGreaterThan(0.02);
        });
      },
    },
    'idempotency-conflicts': {
      title: 'makes unrelated orders collide (409) in more than 5% of orders',
      intensity: 0.5,
      async run(active) {
        await active(async () => {
          const [conflicts, requests] = [await deltaFrom('idempotency_conflicts_total'), await deltaFrom('idempotency_requests_total')];
          await eventually(requests, (n) => n >= 60, 'orders under idempotency-conflicts');
          expect((await conflicts()) / (await requests())).toBeGreaterThan(0.05);
        });
      },
    },
    'idempotency-key-buildup': {
      title: 'stops key expiry, so stored keys pile up, and expiry resumes when cleared',
      async run(active) {
        // With a 3 s TTL the healthy store holds about 3 s of orders.
        const healthy = await gauge('idempotency_keys_stored')();
        await active(async () => {
          await eventually(gauge('idempotency_keys_stored'), (n) => n > 3 * healthy + 30, 'stored keys');
        });
        await eventually(gauge('idempotency_keys_stored'), (n) => n < 2 * healthy + 30, 'stored keys after clearing');
      },
    },
    'csp-flood': {
      title: 'raises CSP violations',
      intensity: 50,
      async run(active) {
        await active(async () => {
          await eventually(await deltaFrom('csp_violations_total'), (n) => n >= 50, 'CSP violations');
        });
      },
    },
    'db-connection-leak': {
      title: 'saturates the pool above 90%, and clearing releases it',
      intensity: 10,
      async run(active) {
        await active(async () => {
          const m = await eventually(canary, (s) => total(s, 'db_pool_active_connections') >= 19, 'active connections');
          expect(total(m, 'db_pool_active_connections') / total(m, 'db_pool_max_connections')).toBeGreaterThan(0.9);
        });
        expect(await gauge('db_pool_active_connections')()).toBeLessThan(10);
      },
    },
    'outbox-lag': {
      title: 'stalls the publisher: outbox lag grows, then drains',
      async run(active) {
        await active(async () => {
          await eventually(gauge('outbox_lag_seconds'), (v) => v > 3, 'outbox lag');
        });
        await eventually(gauge('outbox_lag_seconds'), (v) => v < 1, 'outbox lag after clearing');
      },
    },
    'decimal-errors': {
      title: 'counts orders priced with lost precision, on the canary only',
      intensity: 1,
      async run(active) {
        await active(async () => {
          await eventually(await deltaFrom('decimal_precision_errors_total'), (n) => n >= 5, 'decimal precision errors');
        });
        expect(total(await stable(), 'decimal_precision_errors_total')).toBe(0);
      },
    },
    'ws-disconnect-storm': {
      title: 'drops WebSocket clients again and again',
      intensity: 5,
      async run(active) {
        // Our own clients on the canary, reconnecting as browsers would.
        let reconnect = true;
        const sockets = new Set<WebSocket>();
        const connect = (): void => {
          const socket = new WebSocket(`${target.urls.canary.replace('http', 'ws')}/ws`);
          sockets.add(socket);
          socket.on('error', () => undefined);
          socket.on('close', () => {
            sockets.delete(socket);
            if (reconnect) setTimeout(connect, 100);
          });
        };
        for (let i = 0; i < 3; i++) connect();
        try {
          await active(async () => {
            await eventually(await deltaFrom('ws_disconnects_total'), (n) => n >= 10, 'WebSocket disconnects');
          });
        } finally {
          reconnect = false;
          for (const socket of sockets) socket.terminate();
        }
      },
    },
    'risk-blocks': {
      title: 'refuses orders by the risk rule',
      intensity: 0.5,
      async run(active) {
        await active(async () => {
          await eventually(await deltaFrom('risk_blocks_total'), (n) => n >= 10, 'risk blocks');
        });
      },
    },
    'dead-tuple-bloat': {
      title: 'stalls autovacuum past a million dead tuples',
      intensity: 500_000,
      async run(active) {
        await active(async () => {
          await eventually(gauge('pg_dead_tuples'), (n) => n > 1_000_000, 'dead tuples');
        });
      },
    },
  };

  test.each(faultKinds.map((kind) => [kind, faultChecks[kind].title] as const))('%s %s', async (kind) => {
    const check = faultChecks[kind];
    await check.run((during) => withFault(kind, check.intensity, during));
  });

  test('bad fault input gets 400 naming the field, and leaves no fault active', async () => {
    const cases: Array<[unknown, string]> = [
      [{ kind: 'meltdown' }, 'kind'],
      [{ intensity: 5 }, 'kind'],
      [{ kind: 'latency', intensity: -5 }, 'intensity'],
      [{ kind: 'latency', intensity: 'slow' }, 'intensity'],
      [{ kind: 'error-rate', intensity: 1.5 }, 'intensity'],
      [{ kind: 'ws-stale', intensity: 3 }, 'intensity'],
      [{ kind: 'latency', intensty: 5 }, 'intensty'],
      ['{"kind":', 'body'],
      [[], 'body'],
    ];
    for (const [body, field] of cases) {
      const answer = await putJson(faultUrl(), typeof body === 'string' ? body : JSON.stringify(body));
      expect({ body, status: answer.status, field: answer.body.field }).toEqual({ body, status: 400, field });
      expect(String(answer.body.error)).toContain(field);
    }
    expect(await fetch(faultUrl()).then((r) => r.json())).toEqual({ active: null });
    // The same validator guards the typed client side.
    expect(() => parseFault({ kind: 'latency', intensity: 0 })).toThrow(InputError);
    await expect(target.setFault('canary', { kind: 'nope' as FaultKind })).rejects.toThrow(/kind/);
  });
});

describe('stop', () => {
  test('stop() leaves no child process and nothing listening', async () => {
    const pids = Object.values(target.pids);
    expect(pids.every(processGroupAlive)).toBe(true);
    await target.stop();
    expect(pids.filter(processGroupAlive)).toEqual([]);
    for (const port of Object.values(ports)) expect(await refusesConnections(port)).toBe(true);
    expect(target.load).not.toBeNull();
    const stats = await target.load!.done;
    expect(stats.sent).toBeGreaterThan(0);
  });
});
