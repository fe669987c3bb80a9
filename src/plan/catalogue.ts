// Every check the run-of-show names (spec sections 2-5), with the evidence file
// it writes. A plan may list any of these; which ones have an implementation is
// the activities' business (src/activities/checks/registry.ts), and one without
// is reported as "not implemented", never as passed.

export const CHECK_PHASES = ['preflight', 'blindSpots', 'blastRadius', 'redTeam', 'greenButton'] as const;
export type CheckPhase = (typeof CHECK_PHASES)[number];

export interface CheckSpec {
  phase: CheckPhase;
  title: string;
  /** Evidence file(s); `<v>` is replaced by the release version. */
  files: string[];
}

const c = (phase: CheckPhase, title: string, ...files: string[]): CheckSpec => ({ phase, title, files });

export const CHECK_CATALOGUE: Record<string, CheckSpec> = {
  // Spec section 3: preflight, T-10.
  'identity-seal': c('preflight', 'Identity and time seal', 'preflight.txt'),
  'time-drift': c('preflight', 'Time drift (worker / database)', 'time_drift_<v>.txt'),
  'pgbouncer-saturation': c('preflight', 'pgBouncer saturation (SHOW POOLS)', 'pgbouncer_pools_<v>.tsv'),
  'prisma-migrations': c('preflight', 'Prisma migration status', 'prisma_status_<v>.txt'),
  'security-headers': c('preflight', 'CSP/COEP/COOP/CORP/HSTS headers', 'csp_headers_<v>.txt'),
  'sequence-anomalies': c('preflight', 'Sequence anomalies', 'sequences_<v>.txt'),
  'feature-flag-defaults': c('preflight', 'Feature flag defaults', 'feature_flags_<v>.txt'),
  'prometheus-targets': c('preflight', 'Prometheus targets (count, all up)', 'prom_targets_<v>.txt'),
  'baseline-metrics': c('preflight', 'Baseline of every golden signal', 'baseline_<v>.prom', 'baseline_summary_<v>.txt'),
  'postgres-bloat': c('preflight', 'PostgreSQL bloat (dead tuples, autovacuum memory)', 'pg_dead_tuples_top5.txt', 'pg_autovacuum_mem.txt'),
  // Spec section 2: blind spots, summarised in blind_spots_scan_<v>.txt.
  'blind-time-sequences': c('blindSpots', 'Time and sequences (NTP < 100 ms, node/DB < 250 ms)', 'blind_spots_scan_<v>.txt'),
  'blind-prisma-migrate': c('blindSpots', 'Prisma migrate up to date, no shadow DB in prod', 'blind_spots_scan_<v>.txt'),
  'blind-pgbouncer-mode': c('blindSpots', 'pgBouncer transaction mode, no long queries, LISTEN/NOTIFY pool', 'blind_spots_scan_<v>.txt'),
  'blind-decimal': c('blindSpots', "Decimal banker's rounding and tick alignment", 'blind_spots_scan_<v>.txt'),
  'blind-csp-coop-coep': c('blindSpots', 'CSP allowlist, report endpoint 204, crossOriginIsolated', 'blind_spots_scan_<v>.txt'),
  'blind-prometheus-grafana': c('blindSpots', 'Dashboard defaults, scrape targets expected and up', 'blind_spots_scan_<v>.txt'),
  'blind-feature-flags': c('blindSpots', 'Feature flags explicit, canary-safe, service answers', 'blind_spots_scan_<v>.txt'),
  'blind-slo-burn-alerts': c('blindSpots', '1 h and 6 h burn-rate alerts enabled, none silenced', 'blind_spots_scan_<v>.txt'),
  'blind-sbom-provenance': c('blindSpots', 'SBOM generated, provenance recorded, licences checked', 'blind_spots_scan_<v>.txt'),
  // T-9: micro blast radius.
  'micro-api': c('blastRadius', 'API latency probe of the canary', 'micro_api_<v>.log', 'micro_blast_<v>.log'),
  'micro-ws': c('blastRadius', 'WebSocket latency probe of the canary', 'micro_ws_<v>.log', 'micro_blast_<v>.log'),
  'micro-prom': c('blastRadius', 'PromQL sanity queries', 'micro_prom_<v>.promql', 'micro_blast_<v>.log'),
  // Spec section 4: red team (15) and corner cases (5).
  'rt-partial-unique-collation': c('redTeam', 'Partial UNIQUE index collation', 'redteam_<v>.txt'),
  'rt-idempotency-ttl-gc': c('redTeam', 'Idempotency TTL and GC', 'redteam_<v>.txt'),
  'rt-outbox-lag': c('redTeam', 'Outbox lag (publisher backoff)', 'redteam_<v>.txt'),
  'rt-hsts-preload': c('redTeam', 'HSTS preload trap', 'redteam_<v>.txt'),
  'rt-coep-coop-compat': c('redTeam', 'COEP/COOP compatibility', 'redteam_<v>.txt'),
  'rt-decimal-tick-alignment': c('redTeam', 'Decimal tick alignment', 'redteam_<v>.txt'),
  'rt-pgbouncer-leak': c('redTeam', 'pgBouncer leak detection', 'redteam_<v>.txt'),
  'rt-pitr-cold-start': c('redTeam', 'PITR cold-start proof', 'redteam_<v>.txt'),
  'rt-slo-alert-silence': c('redTeam', 'SLO alert silence', 'redteam_<v>.txt'),
  'rt-sbom-attached': c('redTeam', 'SBOM attached', 'redteam_<v>.txt'),
  'rt-idempotency-burst-replay': c('redTeam', 'Idempotency burst replay', 'idempotency_burst_test.txt'),
  'rt-decimal-tick-drift': c('redTeam', 'Decimal tick drift', 'decimal_tick_drift_test.txt'),
  'rt-outbox-clock-skew': c('redTeam', 'Outbox clock skew', 'outbox_clock_skew_test.txt'),
  'rt-csp-report-flood': c('redTeam', 'CSP report flood', 'csp_flood_test.txt'),
  'rt-sbom-licence-drift': c('redTeam', 'SBOM licence drift', 'sbom_restrictive_licenses.json'),
  'cc-partial-unique-null': c('redTeam', 'Corner case: partial UNIQUE NULL semantics by collation', 'corner_cases_<v>.txt'),
  'cc-idempotency-cardinality': c('redTeam', 'Corner case: idempotency key cardinality (48 h TTL GC keeps up)', 'corner_cases_<v>.txt'),
  'cc-outbox-p99': c('redTeam', 'Corner case: outbox p99 > 10 s means wrong publisher backoff', 'corner_cases_<v>.txt'),
  'cc-hsts-subdomains': c('redTeam', 'Corner case: HSTS preload covers every subdomain', 'corner_cases_<v>.txt'),
  'cc-pgbouncer-leak-ratio': c('redTeam', 'Corner case: pgBouncer sv_active/sv_total > 0.9 is a leak', 'corner_cases_<v>.txt'),
  // Spec section 5: green button ritual, T-2.
  'release-tag': c('greenButton', 'Release tag recorded', 'release_tag.txt'),
  'sbom': c('greenButton', 'CycloneDX SBOM', 'sbom_<v>.json'),
  'build-provenance': c('greenButton', 'SLSA provenance (DSSE, Ed25519)', 'build_provenance_<v>.json'),
  'blind-spot-scan': c('greenButton', 'Blind-spot scan summary', 'blind_spots_scan_<v>.txt'),
  'baseline-record': c('greenButton', 'Baseline metrics record', 'baseline_metrics_<v>.txt'),
  'canary-plan': c('greenButton', 'Canary plan', 'canary_plan_<v>.txt'),
};

export function checkFiles(id: string, version: string): string[] {
  return (CHECK_CATALOGUE[id]?.files ?? []).map((f) => f.replaceAll('<v>', version));
}
