// Which catalogue checks have an implementation. Anything else the plan lists
// is run as "not implemented": reported, never passed.
import { baselineMetrics, microProm, prometheusTargets } from './prometheus';
import { baselineRecord, canaryPlan, identitySeal, releaseTag } from './ritual';
import { blindSbomProvenance, blindSpotScan, buildProvenanceCheck, rtSbomAttached, rtSbomLicenceDrift, sbom } from './ritual-sbom';
import type { Check } from './types';
import { blindPrometheusGrafana, blindSloBurnAlerts, rtSloAlertSilence } from './alerts';
import { microApi, microWs } from './blast-radius';
import { timeDrift } from './clock';
import { blindDecimal, rtDecimalTickAlignment, rtDecimalTickDrift } from './decimal';
import { blindFeatureFlags, featureFlagDefaults } from './flags';
import { blindCspCoopCoep, ccHstsSubdomains, rtCoepCoopCompat, rtCspReportFlood, rtHstsPreload, securityHeaders } from './http';
import { ccIdempotencyCardinality, rtIdempotencyBurstReplay, rtIdempotencyTtlGc } from './idempotency';
import { ccOutboxP99, rtOutboxClockSkew, rtOutboxLag } from './outbox';
import { blindPgbouncerMode, ccPgbouncerLeakRatio, pgbouncerSaturation, rtPgbouncerLeak } from './pgbouncer';
import { ccPartialUniqueNull, rtPartialUniqueCollation } from './positions';
import { blindTimeSequences, postgresBloat, rtPitrColdStart, sequenceAnomaliesCheck } from './postgres';
import { blindPrismaMigrate, prismaMigrations } from './prisma';

export const CHECKS: Record<string, Check> = {
  'identity-seal': identitySeal,
  'prometheus-targets': prometheusTargets,
  'baseline-metrics': baselineMetrics,
  'micro-prom': microProm,
  'release-tag': releaseTag,
  'canary-plan': canaryPlan,
  'baseline-record': baselineRecord,
  'sbom': sbom,
  'build-provenance': buildProvenanceCheck,
  'blind-sbom-provenance': blindSbomProvenance,
  'rt-sbom-attached': rtSbomAttached,
  'rt-sbom-licence-drift': rtSbomLicenceDrift,
  'blind-spot-scan': blindSpotScan,
  // The target: preflight, blind spots, micro blast radius, red team and corner cases (docs/checks.md).
  'time-drift': timeDrift,
  'pgbouncer-saturation': pgbouncerSaturation,
  'prisma-migrations': prismaMigrations,
  'security-headers': securityHeaders,
  'sequence-anomalies': sequenceAnomaliesCheck,
  'feature-flag-defaults': featureFlagDefaults,
  'postgres-bloat': postgresBloat,
  'blind-time-sequences': blindTimeSequences,
  'blind-prisma-migrate': blindPrismaMigrate,
  'blind-pgbouncer-mode': blindPgbouncerMode,
  'blind-decimal': blindDecimal,
  'blind-csp-coop-coep': blindCspCoopCoep,
  'blind-prometheus-grafana': blindPrometheusGrafana,
  'blind-feature-flags': blindFeatureFlags,
  'blind-slo-burn-alerts': blindSloBurnAlerts,
  'micro-api': microApi,
  'micro-ws': microWs,
  'rt-partial-unique-collation': rtPartialUniqueCollation,
  'rt-idempotency-ttl-gc': rtIdempotencyTtlGc,
  'rt-outbox-lag': rtOutboxLag,
  'rt-hsts-preload': rtHstsPreload,
  'rt-coep-coop-compat': rtCoepCoopCompat,
  'rt-decimal-tick-alignment': rtDecimalTickAlignment,
  'rt-pgbouncer-leak': rtPgbouncerLeak,
  'rt-pitr-cold-start': rtPitrColdStart,
  'rt-slo-alert-silence': rtSloAlertSilence,
  'rt-idempotency-burst-replay': rtIdempotencyBurstReplay,
  'rt-decimal-tick-drift': rtDecimalTickDrift,
  'rt-outbox-clock-skew': rtOutboxClockSkew,
  'rt-csp-report-flood': rtCspReportFlood,
  'cc-partial-unique-null': ccPartialUniqueNull,
  'cc-idempotency-cardinality': ccIdempotencyCardinality,
  'cc-outbox-p99': ccOutboxP99,
  'cc-hsts-subdomains': ccHstsSubdomains,
  'cc-pgbouncer-leak-ratio': ccPgbouncerLeakRatio,
};
