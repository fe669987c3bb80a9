// What a check is given and what it gives back.
import type { MetricsProvider } from '../../adapters/metrics/provider';
import type { CheckContext, ReleaseRef } from '../types';
import type { CheckStatus } from '../../workflows/messages';

export interface CheckEnv extends ReleaseRef {
  context: CheckContext;
  metrics: MetricsProvider;
  signal: AbortSignal;
}

export interface CheckReport {
  status: Exclude<CheckStatus, 'not-implemented' | 'timeout'>;
  summary: string;
  /** Evidence files by name; a check may write several. */
  files: Record<string, string>;
  data?: Record<string, string | null>;
}

export type Check = (env: CheckEnv) => Promise<CheckReport>;
