// How the canary's share of traffic is set. Setting is absolute (set to N, never
// add N) so a retried call changes nothing twice.

export interface WeightChange {
  /** Canary percentage before the call (null when the backend cannot tell). */
  previous: number | null;
  current: number;
  /** What the backend did, for the evidence (e.g. the nginx upstream block, the command line). */
  detail: string;
}

export interface TrafficRouter {
  readonly kind: string;
  /** Sends `percent` (0..100) of traffic to the canary, the rest to stable. */
  setCanaryWeight(percent: number): Promise<WeightChange>;
  /** Current canary percentage, or null when the backend cannot tell. */
  currentCanaryWeight(): Promise<number | null>;
}

/**
 * The release plan's `traffic` section. nginx, HAProxy and command routers run binaries,
 * reach a socket and run commands, so the plan only names one of the worker's (src/config.ts); the local
 * router's admin URL must lie under one of the worker's URL prefixes.
 */
export type TrafficConfig =
  | { router: 'local'; adminUrl: string }
  | { router: 'nginx'; name: string }
  | { router: 'command'; name: string }
  | { router: 'haproxy'; name: string }
  | { router: 'record-only' };

/** A router's full settings: the worker's configuration holds these for nginx, HAProxy and command routers. */
export type RouterSettings =
  | { router: 'local'; adminUrl: string }
  | { router: 'nginx'; configFile: string; upstream: string; stableServer: string; canaryServer: string; nginxBinary: string; nginxPrefix?: string; nginxConfig?: string }
  | { router: 'command'; command: string; timeoutMs: number; readCommand?: string }
  | { router: 'haproxy'; socket: string; backend: string; stableServer: string; canaryServer: string; timeoutMs: number }
  | { router: 'record-only' };
