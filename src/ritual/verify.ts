// `spark-release provenance verify`: checks the DSSE envelope(s) of a signed
// evidence file (build_provenance_<v>.json, go_nogo_signed_<v>.txt) with a
// public key, and optionally that artifacts are subjects of the provenance.
import fs from 'node:fs';
import path from 'node:path';
import { DsseError, loadPublicKey, verifyEnvelope } from './dsse';
import { GO_NOGO_PAYLOAD_TYPE, type GoNoGoPayload } from './go-nogo';
import { IN_TOTO_PAYLOAD_TYPE, SLSA_PROVENANCE_V1, STATEMENT_TYPE, type ProvenanceStatement } from './provenance';
import { sha256Hex } from './sbom';

/** A JSON envelope file, or the envelope lines of a signed text record. */
export function envelopesIn(text: string, file: string): unknown[] {
  const whole = text.trim();
  if (whole.startsWith('{')) {
    try {
      return [JSON.parse(whole)];
    } catch {
      // Not one JSON document: look for envelope lines below.
    }
  }
  const found = text.split('\n').filter((l) => l.startsWith('{') && l.includes('"payloadType"')).map((l, i) => {
    try {
      return JSON.parse(l) as unknown;
    } catch (err) {
      throw new DsseError(`${file}: envelope line ${i + 1} is not JSON (${(err as Error).message})`);
    }
  });
  if (found.length === 0) throw new DsseError(`${file}: no DSSE envelope in it (a signed record ends with a one-line JSON envelope; "NOT SIGNED" means the worker had no key)`);
  return found;
}

function parsePayload<T>(body: Buffer, what: string): T {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch (err) {
    throw new DsseError(`payload: not a JSON ${what} (${(err as Error).message})`);
  }
}

function describeProvenance(s: ProvenanceStatement, artifacts: string[]): string[] {
  if (s._type !== STATEMENT_TYPE) throw new DsseError(`payload._type: "${String(s._type)}", expected ${STATEMENT_TYPE}`);
  if (s.predicateType !== SLSA_PROVENANCE_V1) throw new DsseError(`payload.predicateType: "${String(s.predicateType)}", expected ${SLSA_PROVENANCE_V1}`);
  if (!Array.isArray(s.subject) || s.subject.length === 0) throw new DsseError('payload.subject: must list at least one subject');
  const lines = [
    `statement: ${s._type}, predicate ${s.predicateType}, build type ${s.predicate?.buildDefinition?.buildType}`,
    ...s.subject.map((x) => `subject: ${x.name} ${Object.entries(x.digest ?? {}).map(([alg, d]) => `${alg}:${d}`).join(' ')}`),
    `builder: ${s.predicate?.runDetails?.builder?.id}; invocation ${s.predicate?.runDetails?.metadata?.invocationId}`,
  ];
  for (const artifact of artifacts) {
    let digest: string;
    try {
      digest = sha256Hex(fs.readFileSync(artifact));
    } catch (err) {
      throw new DsseError(`--artifact ${artifact}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const subject = s.subject.find((x) => x.digest?.sha256 === digest);
    if (!subject) throw new DsseError(`--artifact ${artifact}: sha256 ${digest} is not the digest of any subject; the file is not the one that was signed`);
    lines.push(`artifact: ${path.basename(artifact)} sha256:${digest} is subject ${subject.name}`);
  }
  return lines;
}

function describeGoNoGo(p: GoNoGoPayload, artifacts: string[]): string[] {
  if (artifacts.length) throw new DsseError('--artifact: a GO/NO-GO record has no subjects to match artifacts against');
  const last = p.decisions?.at(-1);
  return [
    `GO/NO-GO of ${p.service} ${p.version} (${p.release}, run ${p.runId}): gate ${p.gate?.id} ${String(p.gate?.outcome).toUpperCase()}, checklist ${p.checklist?.passed}/${p.checklist?.total}`,
    `decision: ${last ? `${(last.decision ?? last.kind).toUpperCase()} by ${last.by}${p.overridden ? ' over an incomplete checklist' : ''}: ${last.reason}` : 'none'}`,
  ];
}

/** Lines describing what verified; throws DsseError (or SigningKeyError) naming what did not. */
export function verifySignedFile(file: string, keyFile: string, artifacts: string[] = []): string[] {
  const publicKey = loadPublicKey(keyFile);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new DsseError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return envelopesIn(text, file).flatMap((envelope) => {
    const verified = verifyEnvelope(envelope, publicKey, [IN_TOTO_PAYLOAD_TYPE, GO_NOGO_PAYLOAD_TYPE]);
    const head = `OK: ${path.basename(file)}: signature by ${verified.keyid ?? 'the given key'} verifies (${verified.payloadType})`;
    return verified.payloadType === IN_TOTO_PAYLOAD_TYPE
      ? [head, ...describeProvenance(parsePayload<ProvenanceStatement>(verified.body, 'in-toto statement'), artifacts)]
      : [head, ...describeGoNoGo(parsePayload<GoNoGoPayload>(verified.body, 'GO/NO-GO record'), artifacts)];
  });
}
