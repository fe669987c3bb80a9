// The licence policy over an SBOM (plan.ritual.licences): every component must
// be usable under the allowed licences; one that cannot avoid a denied licence
// is restrictive. Licence changes against a previous release's SBOM are drift.
import fs from 'node:fs';
import { RitualInputError, type CdxBom, type CdxComponent, type Clarification } from './sbom';
import { PlanError } from '../plan/schema';
import type { RitualPlan } from './plan';
import { expressionProblem, licencesOf, satisfiedBy, singleLicenceProblem } from './spdx';

export interface LicencePolicy {
  allow: string[];
  deny: string[];
  clarifications: Clarification[];
}

/** allowed: complies using allowed licences only; restrictive: needs a denied one; unlisted: needs one neither allowed nor denied; unknown: no usable SPDX licence. */
export type LicenceVerdict = 'allowed' | 'restrictive' | 'unlisted' | 'unknown';

export interface ComponentLicence {
  package: string;
  licence: string | null;
  acknowledgement: 'declared' | 'concluded' | null;
  verdict: LicenceVerdict;
  detail: string;
}

export interface LicenceDrift {
  reference: string;
  /** Packages whose licence differs from every version of them in the reference. */
  changed: { package: string; from: string[]; to: string }[];
  /** Packages the reference does not have, with their licence. */
  added: { package: string; licence: string | null }[];
}

export interface LicenceReport {
  ok: boolean;
  summary: string;
  components: number;
  counts: Record<LicenceVerdict, number>;
  /** Every component that is not allowed, worst first. */
  violations: ComponentLicence[];
  clarified: ComponentLicence[];
  /** Clarifications in the plan for packages the SBOM does not contain (stale after an upgrade). */
  staleClarifications: string[];
  drift: LicenceDrift | null;
}

function packageName(c: CdxComponent): string {
  return c.group ? `${c.group}/${c.name}` : c.name;
}

/** A component's licence as one expression; several listed licences are read as all applying (AND). */
export function licenceOf(c: CdxComponent): { licence: string | null; acknowledgement: 'declared' | 'concluded' | null } {
  const parts = (c.licenses ?? []).map((l) => l.expression ?? l.license?.name ?? (l.license as { id?: string } | undefined)?.id).filter((x): x is string => !!x);
  if (parts.length === 0) return { licence: null, acknowledgement: null };
  const concluded = (c.licenses ?? []).some((l) => l.acknowledgement === 'concluded');
  return { licence: parts.length === 1 ? parts[0]! : parts.map((p) => `(${p})`).join(' AND '), acknowledgement: concluded ? 'concluded' : 'declared' };
}

function judge(licence: string | null, policy: LicencePolicy): { verdict: LicenceVerdict; detail: string } {
  if (licence === null) return { verdict: 'unknown', detail: 'declares no licence; once a person has read its licence, add a clarification (ritual.licences.clarifications)' };
  if (expressionProblem(licence)) return { verdict: 'unknown', detail: `"${licence}" is not an SPDX expression; add a clarification once a person has read it` };
  if (satisfiedBy(licence, policy.allow)) return { verdict: 'allowed', detail: '' };
  const named = licencesOf(licence);
  const denied = named.filter((l) => satisfiedBy(l, policy.deny));
  if (denied.length) return { verdict: 'restrictive', detail: `cannot be used without ${[...new Set(denied)].join(', ')} (denied)` };
  const unlisted = named.filter((l) => !satisfiedBy(l, policy.allow));
  return { verdict: 'unlisted', detail: `${[...new Set(unlisted)].join(', ')} is neither allowed nor denied: review it and add it to one list` };
}

/**
 * Problems of the plan's licence lists, each naming its field: entries that are
 * not single SPDX licences, clarifications that are not SPDX expressions, a
 * licence both allowed and denied. Empty when the policy can be applied.
 */
export function licencePolicyProblems(ritual: RitualPlan): string[] {
  const { allow, deny, clarifications } = ritual.licences;
  const problems = [
    ...allow.map((l, i) => [`ritual.licences.allow[${i}]`, singleLicenceProblem(l)] as const),
    ...deny.map((l, i) => [`ritual.licences.deny[${i}]`, singleLicenceProblem(l)] as const),
    ...clarifications.map((c, i) => [`ritual.licences.clarifications[${i}].licence`, expressionProblem(c.licence)] as const),
  ].flatMap(([field, problem]) => (problem ? [`${field}: ${problem}`] : []));
  const validDeny = deny.filter((l) => singleLicenceProblem(l) === null);
  allow.forEach((l, i) => {
    if (singleLicenceProblem(l) === null && satisfiedBy(l, validDeny)) problems.push(`ritual.licences.allow[${i}]: "${l}" is also denied (ritual.licences.deny)`);
  });
  return problems;
}

/** For the CLI, before a plan is started or reported valid: the licence lists as a plan problem. */
export function assertLicencePolicy(plan: { ritual?: RitualPlan }, source: string): void {
  const problems = plan.ritual ? licencePolicyProblems(plan.ritual) : [];
  if (problems.length) throw new PlanError(problems, source);
}

const SEVERITY: LicenceVerdict[] = ['restrictive', 'unknown', 'unlisted', 'allowed'];

export function evaluateLicences(bom: CdxBom, policy: LicencePolicy, reference?: { name: string; bom: CdxBom }): LicenceReport {
  const components = bom.components ?? [];
  const judged: ComponentLicence[] = components.map((c) => {
    const { licence, acknowledgement } = licenceOf(c);
    return { package: `${packageName(c)}@${c.version ?? '?'}`, licence, acknowledgement, ...judge(licence, policy) };
  });
  const counts = Object.fromEntries(SEVERITY.map((v) => [v, judged.filter((j) => j.verdict === v).length])) as Record<LicenceVerdict, number>;
  const violations = judged
    .filter((j) => j.verdict !== 'allowed')
    .sort((a, b) => SEVERITY.indexOf(a.verdict) - SEVERITY.indexOf(b.verdict) || a.package.localeCompare(b.package));
  const present = new Set(judged.map((j) => j.package));
  const ok = violations.length === 0;
  const summary = ok
    ? `${components.length} components, every licence allowed`
    : `${violations.length} of ${components.length} components not allowed: ${SEVERITY.slice(0, 3).filter((v) => counts[v]).map((v) => `${counts[v]} ${v}`).join(', ')} (first: ${violations[0]!.package} ${violations[0]!.licence ?? '(none)'})`;
  return {
    ok,
    summary,
    components: components.length,
    counts,
    violations,
    clarified: judged.filter((j) => j.acknowledgement === 'concluded'),
    staleClarifications: policy.clarifications.map((c) => c.package).filter((p) => !present.has(p)),
    drift: reference ? driftAgainst(judged, reference) : null,
  };
}

function driftAgainst(current: ComponentLicence[], reference: { name: string; bom: CdxBom }): LicenceDrift {
  const before = new Map<string, Set<string>>();
  for (const c of reference.bom.components ?? []) {
    const name = packageName(c);
    if (!before.has(name)) before.set(name, new Set());
    before.get(name)!.add(licenceOf(c).licence ?? '(none)');
  }
  const changed: LicenceDrift['changed'] = [];
  const added: LicenceDrift['added'] = [];
  for (const c of current) {
    const name = c.package.slice(0, c.package.lastIndexOf('@'));
    const was = before.get(name);
    if (!was) added.push({ package: c.package, licence: c.licence });
    else if (!was.has(c.licence ?? '(none)')) changed.push({ package: c.package, from: [...was], to: c.licence ?? '(none)' });
  }
  return { reference: reference.name, changed, added };
}

/** A previous release's SBOM to compare against; refuses anything that is not a CycloneDX JSON BOM. */
export function readReferenceSbom(file: string): CdxBom {
  let doc: Partial<CdxBom>;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CdxBom>;
  } catch (err) {
    throw new RitualInputError(`ritual.licences.reference ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (doc.bomFormat !== 'CycloneDX' || !Array.isArray(doc.components)) {
    throw new RitualInputError(`ritual.licences.reference ${file}: not a CycloneDX JSON BOM with components`);
  }
  return doc as CdxBom;
}

/** sbom_restrictive_licenses.json: the verdict, the policy and every component that is not allowed. */
export function licenceReportJson(report: LicenceReport, meta: { release: string; version: string; sbomFile: string; sbomSha256: string; policy: LicencePolicy }): string {
  const by = (v: LicenceVerdict) => report.violations.filter((x) => x.verdict === v).map(({ verdict: _v, ...rest }) => rest);
  return `${JSON.stringify({
    release: meta.release,
    version: meta.version,
    sbom: { file: meta.sbomFile, sha256: meta.sbomSha256 },
    policy: { allow: meta.policy.allow, deny: meta.policy.deny },
    result: report.ok ? 'PASS' : 'FAIL',
    summary: report.summary,
    counts: report.counts,
    restrictive: by('restrictive'),
    unknown: by('unknown'),
    unlisted: by('unlisted'),
    clarified: report.clarified.map(({ verdict: _v, ...rest }) => rest),
    staleClarifications: report.staleClarifications,
    drift: report.drift,
  }, null, 2)}\n`;
}
