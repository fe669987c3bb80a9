// Which catalogue checks have an implementation. Anything else the plan lists
// is run as "not implemented": reported, never passed.
import { baselineMetrics, microProm, prometheusTargets } from './prometheus';
import { baselineRecord, canaryPlan, identitySeal, releaseTag } from './ritual';
import type { Check } from './types';

export const CHECKS: Record<string, Check> = {
  'identity-seal': identitySeal,
  'prometheus-targets': prometheusTargets,
  'baseline-metrics': baselineMetrics,
  'micro-prom': microProm,
  'release-tag': releaseTag,
  'canary-plan': canaryPlan,
  'baseline-record': baselineRecord,
};
