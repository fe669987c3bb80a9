// The supply-chain checks: the SBOM and the signed provenance of the green
// button (T-2), their dry run among the blind spots (T-10), the red team's
// "SBOM attached" and "SBOM licence drift" (T-5), and the blind-spot scan summary.
// Each builds what it needs from the plan's ritual section; the SBOM is a pure
// function of its inputs, so every check sees the same bytes and digest.
import path from 'node:path';
import { projectRoot } from '../../config';
import { CHECK_CATALOGUE } from '../../plan/catalogue';
import { loadSigningKey, SigningKeyError, verifyEnvelope, type SigningKey } from '../../ritual/dsse';
import { evaluateLicences, licenceReportJson, licencePolicyProblems, readReferenceSbom, type LicenceReport } from '../../ritual/licence';
import type { RitualPlan } from '../../ritual/plan';
import { buildProvenance, IN_TOTO_PAYLOAD_TYPE, signProvenance, sourceTreeDigest } from '../../ritual/provenance';
import { buildSbom, readLockfile, RitualInputError, sbomJson, sha256Hex, validateSbom, type CdxBom } from '../../ritual/sbom';
import type { Check, CheckEnv, CheckReport } from './types';

const fromRoot = (p: string) => path.resolve(projectRoot, p);

interface Sbom {
  ritual: RitualPlan;
  bom: CdxBom;
  file: string;
  json: string;
  sha256: string;
  lockfileSha256: string;
}

function ritualOf(env: CheckEnv): RitualPlan {
  if (!env.context.ritual) throw new RitualInputError('the plan has no ritual section (lockfile, sourceDir, licences): nothing to build an SBOM from');
  return env.context.ritual;
}

function sbomOf(env: CheckEnv): Sbom {
  const ritual = ritualOf(env);
  const lock = readLockfile(fromRoot(ritual.lockfile));
  const bom = buildSbom({
    service: env.service, version: env.version, commit: env.context.commit, release: env.release, runId: env.runId,
    lock, clarifications: ritual.licences.clarifications,
  });
  const json = sbomJson(bom);
  return { ritual, bom, file: `sbom_${env.version}.json`, json, sha256: sha256Hex(json), lockfileSha256: lock.sha256 };
}

/** Signs the provenance of this release and checks the signature with the key's public half. */
function provenanceOf(env: CheckEnv, sbom: Sbom, key: SigningKey) {
  const statement = buildProvenance({
    service: env.service, version: env.version, commit: env.context.commit, release: env.release, runId: env.runId,
    initiator: env.context.initiator, sourceDir: sbom.ritual.sourceDir, lockfile: sbom.ritual.lockfile,
    source: sourceTreeDigest(fromRoot(sbom.ritual.sourceDir)), lockfileSha256: sbom.lockfileSha256,
    sbom: { file: sbom.file, sha256: sbom.sha256 },
  });
  const envelope = signProvenance(statement, key.privateKey);
  verifyEnvelope(envelope, key.publicKey, [IN_TOTO_PAYLOAD_TYPE]);
  return { statement, envelope };
}

function licencesOf(sbom: Sbom): LicenceReport {
  const problems = licencePolicyProblems(sbom.ritual);
  if (problems.length) throw new RitualInputError(`the plan's licence policy cannot be applied: ${problems.join('; ')}`);
  const { reference, allow, deny, clarifications } = sbom.ritual.licences;
  const ref = reference ? { name: reference, bom: readReferenceSbom(fromRoot(reference)) } : undefined;
  return evaluateLicences(sbom.bom, { allow, deny, clarifications }, ref);
}

/** A missing input or key is the check failing, with the message that says what to fix. */
function ritualCheck(run: (env: CheckEnv) => Promise<CheckReport>): Check {
  return async (env) => {
    try {
      return await run(env);
    } catch (err) {
      if (err instanceof RitualInputError || err instanceof SigningKeyError) return { status: 'fail', summary: err.message, files: {} };
      throw err;
    }
  };
}

const short = (sha: string) => sha.slice(0, 12);

export const sbom: Check = ritualCheck(async (env) => {
  const s = sbomOf(env);
  const problems = await validateSbom(s.json);
  const files = { [s.file]: s.json };
  if (problems.length) {
    return { status: 'fail', summary: `the SBOM does not validate against CycloneDX ${s.bom.specVersion}: ${problems.slice(0, 3).join('; ')}`, files };
  }
  return { status: 'pass', summary: `CycloneDX ${s.bom.specVersion}, ${s.bom.components?.length} components from ${s.ritual.lockfile}, schema-valid; sha256 ${short(s.sha256)}`, files };
});

export const buildProvenanceCheck: Check = ritualCheck(async (env) => {
  const key = loadSigningKey();
  const s = sbomOf(env);
  const { statement, envelope } = provenanceOf(env, s, key);
  const [service] = statement.subject;
  return {
    status: 'pass',
    summary: `SLSA v1 provenance signed by ${key.keyid}: ${service!.name} (source sha256 ${short(service!.digest.sha256!)}) and ${s.file} (sha256 ${short(s.sha256)})`,
    files: { [`build_provenance_${env.version}.json`]: `${JSON.stringify(envelope, null, 2)}\n` },
  };
});

/** Blind spot 9, at T-10: an SBOM can be generated, provenance can be recorded, the licences pass. */
export const blindSbomProvenance: Check = ritualCheck(async (env) => {
  const s = sbomOf(env);
  const problems = await validateSbom(s.json);
  let provenance: string;
  let signed = false;
  try {
    const key = loadSigningKey();
    provenanceOf(env, s, key);
    provenance = `provenance signs and verifies with ${key.keyid}`;
    signed = true;
  } catch (err) {
    if (!(err instanceof SigningKeyError)) throw err;
    provenance = `provenance cannot be recorded: ${err.message}`;
  }
  const licences = licencesOf(s);
  const parts = [
    problems.length ? `SBOM invalid: ${problems.slice(0, 2).join('; ')}` : `SBOM: ${s.bom.components?.length} components, schema-valid`,
    provenance,
    `licences: ${licences.summary}`,
  ];
  const ok = problems.length === 0 && signed && licences.ok;
  return { status: ok ? 'pass' : 'fail', summary: parts.join('; '), files: {} };
});

/** Red team 10: the SBOM describes this release completely and the signed provenance binds its digest. */
export const rtSbomAttached: Check = ritualCheck(async (env) => {
  const s = sbomOf(env);
  const components = s.bom.components ?? [];
  const root = s.bom.metadata?.component;
  const problems: string[] = [];
  const names = root?.name === env.service && root?.version === env.version;
  if (!names) problems.push(`the SBOM describes ${root?.name}@${root?.version}, not ${env.service}@${env.version}`);
  const unhashed = components.filter((c) => !c.hashes?.length).map((c) => `${c.name}@${c.version}`);
  if (unhashed.length) problems.push(`${unhashed.length} components without a hash (first: ${unhashed[0]})`);
  if (components.length === 0) problems.push('the SBOM lists no components');
  const schema = await validateSbom(s.json);
  if (schema.length) problems.push(`schema: ${schema[0]}`);
  let binding: string;
  try {
    const key = loadSigningKey();
    const { statement } = provenanceOf(env, s, key);
    const subject = statement.subject.find((x) => x.digest.sha256 === s.sha256);
    binding = subject ? `provenance subject ${subject.name} carries the SBOM's sha256; the signature verifies with ${key.keyid}` : 'the provenance does not name the SBOM';
    if (!subject) problems.push(binding);
  } catch (err) {
    if (!(err instanceof SigningKeyError)) throw err;
    binding = `not attached: ${err.message}`;
    problems.push('no signed provenance can carry the SBOM (no signing key)');
  }
  const lines = [
    `${CHECK_CATALOGUE['rt-sbom-attached']!.title} (red team 10) of ${env.release} (run ${env.runId})`,
    `sbom: ${s.file} sha256 ${s.sha256} (CycloneDX ${s.bom.specVersion}, ${components.length} components, from ${s.ritual.lockfile} sha256 ${s.lockfileSha256})`,
    `names the release: ${names ? 'yes' : 'NO'} (${root?.name}@${root?.version})`,
    `components without a hash: ${unhashed.length}`,
    `binding: ${binding}`,
    `result: ${problems.length ? `FAIL: ${problems.join('; ')}` : 'PASS'}`,
  ];
  return {
    status: problems.length ? 'fail' : 'pass',
    summary: problems.length ? problems.join('; ') : `${s.file} (${components.length} components) is a signed subject of the provenance`,
    files: { [`redteam_${env.version}.txt`]: `${lines.join('\n')}\n` },
  };
});

/** Red team 15: every component's licence against the plan's policy, and changes against a reference SBOM. */
export const rtSbomLicenceDrift: Check = ritualCheck(async (env) => {
  const s = sbomOf(env);
  const report = licencesOf(s);
  const { allow, deny, clarifications } = s.ritual.licences;
  const drift = report.drift ? `; drift against ${report.drift.reference}: ${report.drift.changed.length} changed, ${report.drift.added.length} added` : '';
  return {
    status: report.ok ? 'pass' : 'fail',
    summary: `${report.summary}${drift}`,
    files: {
      'sbom_restrictive_licenses.json': licenceReportJson(report, {
        release: env.release, version: env.version, sbomFile: s.file, sbomSha256: s.sha256, policy: { allow, deny, clarifications },
      }),
    },
  };
});

/** The green button's blind_spots_scan_<v>.txt: the blind-spot results of the preflight, one line each. */
export const blindSpotScan: Check = async ({ context, release, runId, version }) => {
  const results = context.blindSpots ?? [];
  const file = `blind_spots_scan_${version}.txt`;
  if (results.length === 0) {
    return { status: 'fail', summary: 'no blind-spot results reached the scan (the plan lists no blindSpots checks)', files: { [file]: 'no blind-spot checks ran\n' } };
  }
  const failing = results.filter((r) => r.status !== 'pass');
  const lines = [
    `blind-spot scan of ${release} (run ${runId}): ${results.length - failing.length}/${results.length} pass`,
    '',
    ...results.map((r) => {
      // Summaries of checks that did not run already start with the title.
      const title = CHECK_CATALOGUE[r.id]?.title;
      return `${r.status.toUpperCase().padEnd(15)} ${r.id.padEnd(26)} ${title && !r.summary.startsWith(title) ? `${title}: ` : ''}${r.summary}`;
    }),
    '',
    `result: ${failing.length ? `FAIL: ${failing.map((r) => `${r.id} ${r.status}`).join(', ')}` : 'PASS'}`,
  ];
  return {
    status: failing.length ? 'fail' : 'pass',
    summary: failing.length ? `${failing.length} of ${results.length} blind spots not passing: ${failing.map((r) => `${r.id} (${r.status})`).join(', ')}` : `${results.length}/${results.length} blind spots pass`,
    files: { [file]: `${lines.join('\n')}\n` },
  };
};
