// Fault injection for one demo service instance: which faults exist, how their
// input is validated, and the background effects that run while one is active.
// Per-request effects (latency, errors, risk blocks, ...) are read by the service
// through FaultController.is/amount; admin API: GET|PUT|DELETE /admin/fault.
import type { IncomingMessage, ServerResponse } from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { InputError, parseJsonObject, readBody, rejectUnknownFields, sendInputError, sendJson } from './http-json';

export const faultKinds = [
  'latency',
  'error-rate',
  'event-loop-block',
  'memory-leak',
  'missing-metrics',
  'ws-stale',
  'gc-pressure',
  'idempotency-conflicts',
  'idempotency-key-buildup',
  'csp-flood',
  'db-connection-leak',
  'outbox-lag',
  'decimal-errors',
  'ws-disconnect-storm',
  'risk-blocks',
  'dead-tuple-bloat',
] as const;

export type FaultKind = (typeof faultKinds)[number];

export interface IntensityRule {
  meaning: string;
  default: number;
  min: number;
  max: number;
}

export interface FaultInfo {
  /** The metric(s) the fault moves, and which way. */
  drives: string;
  /** null: the fault takes no intensity. */
  intensity: IntensityRule | null;
}

export const faultCatalog: Record<FaultKind, FaultInfo> = {
  latency: {
    drives: 'http_request_duration_seconds up (API p95)',
    intensity: { meaning: 'milliseconds added to each API request', default: 500, min: 1, max: 30_000 },
  },
  'error-rate': {
    drives: 'http_request_duration_seconds_count{status_code="503"} up (5xx rate)',
    intensity: { meaning: 'fraction of API requests answered 503', default: 0.2, min: 0.001, max: 1 },
  },
  'event-loop-block': {
    drives: 'spark_eventloop_lag_p95_seconds up (and API latency)',
    intensity: { meaning: 'milliseconds each busy-loop block lasts (one every block+50 ms)', default: 200, min: 20, max: 2_000 },
  },
  'memory-leak': {
    drives: 'process_resident_memory_bytes and nodejs_heap_size_used_bytes up',
    intensity: { meaning: 'MiB retained per second (capped at 1024 MiB in total)', default: 8, min: 1, max: 64 },
  },
  'missing-metrics': {
    drives: 'application metrics vanish from /metrics (queries return no data; process metrics stay)',
    intensity: null,
  },
  'ws-stale': {
    drives: 'ws_staleness_seconds and market_feed_staleness_seconds{feed="bist"} grow by 1 per second',
    intensity: null,
  },
  'gc-pressure': {
    drives: 'nodejs_gc_duration_seconds average pause up',
    intensity: { meaning: 'thousands of live objects churned and collected 4 times a second', default: 300, min: 10, max: 2_000 },
  },
  'idempotency-conflicts': {
    drives: 'idempotency_conflicts_total up (409s)',
    intensity: { meaning: "fraction of orders looked up under the previous order's key", default: 0.2, min: 0.001, max: 1 },
  },
  'idempotency-key-buildup': {
    drives: 'idempotency_keys_stored keeps growing (key expiry stops)',
    intensity: null,
  },
  'csp-flood': {
    drives: 'csp_violations_total up',
    intensity: { meaning: 'CSP reports per second', default: 20, min: 0.1, max: 1_000 },
  },
  'db-connection-leak': {
    drives: 'db_pool_active_connections up to db_pool_max_connections - 1',
    intensity: { meaning: 'connections leaked per second', default: 2, min: 0.1, max: 100 },
  },
  'outbox-lag': {
    drives: 'outbox_lag_seconds grows by 1 per second (publisher stalls)',
    intensity: null,
  },
  'decimal-errors': {
    drives: 'decimal_precision_errors_total up',
    intensity: { meaning: 'fraction of orders priced with binary floating point', default: 1, min: 0.001, max: 1 },
  },
  'ws-disconnect-storm': {
    drives: 'ws_disconnects_total up',
    intensity: { meaning: 'times per second every open WebSocket is dropped', default: 2, min: 0.1, max: 20 },
  },
  'risk-blocks': {
    drives: 'risk_blocks_total up (422s)',
    intensity: { meaning: 'fraction of orders refused by the risk rule', default: 0.05, min: 0.001, max: 1 },
  },
  'dead-tuple-bloat': {
    drives: 'pg_dead_tuples up (autovacuum stalls)',
    intensity: { meaning: 'dead tuples added per second', default: 50_000, min: 1, max: 10_000_000 },
  },
};

export interface FaultSpec {
  kind: FaultKind;
  /** null for kinds that take no intensity. */
  intensity: number | null;
}

export interface ActiveFault extends FaultSpec {
  since: string;
}

export function isFaultKind(value: unknown): value is FaultKind {
  return typeof value === 'string' && (faultKinds as readonly string[]).includes(value);
}

/** Validates `{kind, intensity?}`; throws InputError naming `kind`, `intensity` or an unknown field. */
export function parseFault(input: unknown): FaultSpec {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InputError('body', 'must be an object {kind, intensity?}');
  }
  const body = input as Record<string, unknown>;
  rejectUnknownFields(body, ['kind', 'intensity']);
  const { kind, intensity } = body;
  if (!isFaultKind(kind)) {
    throw new InputError('kind', `must be one of ${faultKinds.join(', ')} (got ${JSON.stringify(kind)})`);
  }
  const rule = faultCatalog[kind].intensity;
  if (rule === null) {
    if (intensity !== undefined && intensity !== null) throw new InputError('intensity', `${kind} takes no intensity`);
    return { kind, intensity: null };
  }
  if (intensity === undefined || intensity === null) return { kind, intensity: rule.default };
  if (typeof intensity !== 'number' || !Number.isFinite(intensity) || intensity < rule.min || intensity > rule.max) {
    throw new InputError(
      'intensity',
      `${kind} needs a number from ${rule.min} to ${rule.max} (${rule.meaning}); got ${JSON.stringify(intensity)}`,
    );
  }
  return { kind, intensity };
}

/** What a fault's background effect acts on inside the service. */
export interface FaultHooks {
  reportCspViolations(count: number): void;
  leakDbConnections(count: number): void;
  releaseLeakedDbConnections(): void;
  addDeadTuples(count: number): void;
  dropWebSocketClients(): void;
}

const effectPeriodMs = 250;
const memoryLeakCapBytes = 1024 * 1024 * 1024;
const eventLoopBlockGapMs = 50;

/** The runtime's own gc(), reachable without starting Node with --expose-gc. */
function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

export class FaultController {
  private current: ActiveFault | null = null;
  private timers: NodeJS.Timeout[] = [];
  private retained: unknown[] = [];
  private retainedBytes = 0;
  private pending = 0;
  private forceGc: (() => void) | null = null;

  constructor(private readonly hooks: FaultHooks) {}

  is(kind: FaultKind): boolean {
    return this.current?.kind === kind;
  }

  /** The active fault's intensity when it is `kind`, else 0. */
  amount(kind: FaultKind): number {
    return this.current?.kind === kind ? (this.current.intensity ?? 0) : 0;
  }

  /** Replaces any active fault (one at a time, so a PUT is an absolute set). */
  set(spec: FaultSpec): ActiveFault {
    this.clear();
    this.current = { ...spec, since: new Date().toISOString() };
    this.startEffect(this.current);
    return this.current;
  }

  clear(): ActiveFault | null {
    const previous = this.current;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (previous?.kind === 'db-connection-leak') this.hooks.releaseLeakedDbConnections();
    this.retained = [];
    this.retainedBytes = 0;
    this.pending = 0;
    this.current = null;
    return previous;
  }

  /** Serves /admin/fault. */
  async handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method === 'GET') return sendJson(res, 200, { active: this.current });
      if (req.method === 'DELETE') return sendJson(res, 200, { cleared: this.clear() });
      if (req.method === 'PUT') return sendJson(res, 200, { active: this.set(parseFault(parseJsonObject(await readBody(req)))) });
      sendJson(res, 405, { error: 'use GET, PUT or DELETE' }, { allow: 'GET, PUT, DELETE' });
    } catch (err) {
      sendInputError(res, err);
    }
  }

  private every(periodMs: number, step: () => void): void {
    this.timers.push(setInterval(step, periodMs));
  }

  /** Adds rate*period to a running total and hands out its whole part. */
  private accrue(perSecond: number): number {
    this.pending += (perSecond * effectPeriodMs) / 1000;
    const whole = Math.floor(this.pending);
    this.pending -= whole;
    return whole;
  }

  private startEffect(fault: ActiveFault): void {
    const intensity = fault.intensity ?? 0;
    switch (fault.kind) {
      case 'event-loop-block':
        this.blockEventLoop(intensity);
        return;
      case 'memory-leak':
        this.every(effectPeriodMs, () => this.leakMemory((intensity * 1024 * 1024 * effectPeriodMs) / 1000));
        return;
      case 'gc-pressure':
        this.churnHeap(Math.round(intensity * 1000));
        return;
      case 'csp-flood':
        this.every(effectPeriodMs, () => this.hooks.reportCspViolations(this.accrue(intensity)));
        return;
      case 'db-connection-leak':
        this.every(effectPeriodMs, () => this.hooks.leakDbConnections(this.accrue(intensity)));
        return;
      case 'dead-tuple-bloat':
        this.every(effectPeriodMs, () => this.hooks.addDeadTuples(this.accrue(intensity)));
        return;
      case 'ws-disconnect-storm':
        this.every(effectPeriodMs, () => {
          if (this.accrue(intensity) > 0) this.hooks.dropWebSocketClients();
        });
        return;
      default:
        // The other kinds act per request or per tick inside the service.
        return;
    }
  }

  /** setInterval counts from the start of a block, so the loop runs free for the gap. */
  private blockEventLoop(blockMs: number): void {
    this.every(blockMs + eventLoopBlockGapMs, () => {
      const until = Date.now() + blockMs;
      while (Date.now() < until) {
        // Busy wait on purpose: this is the fault.
      }
    });
  }

  private leakMemory(bytes: number): void {
    if (this.retainedBytes >= memoryLeakCapBytes) return;
    // Half off-heap (RSS) and half on the V8 heap, both touched so they count.
    const half = Math.max(1, Math.floor(bytes / 2));
    this.retained.push(Buffer.alloc(half, 1), new Array<number>(Math.ceil(half / 8)).fill(0.5));
    this.retainedBytes += bytes;
  }

  /** A large live object graph, partly replaced and fully collected 4 times a second:
   * every collection has to mark the whole graph, so each pause is long. */
  private churnHeap(objects: number): void {
    this.forceGc ??= exposeGc();
    const forceGc = this.forceGc;
    const graph = Array.from({ length: objects }, (_, i) => ({ i, links: [i] }));
    const slice = Math.max(1, Math.floor(objects / 20));
    let cursor = 0;
    this.retained.push(graph);
    this.every(effectPeriodMs, () => {
      for (let n = 0; n < slice; n++) {
        cursor = (cursor + 1) % objects;
        graph[cursor] = { i: cursor, links: [n] };
      }
      forceGc();
    });
  }
}
