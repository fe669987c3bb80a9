// SLSA v1 provenance of a release as an in-toto Statement v1, signed into a
// DSSE envelope. The subjects are the released service's source tree and its
// SBOM, so the signature binds the SBOM to the release ("SBOM attached").
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { version as toolVersion } from '../../package.json';
import { signEnvelope, type DsseEnvelope } from './dsse';
import { RitualInputError } from './sbom';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** What a "build" is here: the green button sealing a service version for release (docs/ritual.md). */
export const BUILD_TYPE = 'urn:spark-release:green-button:v1';
export const BUILDER_ID = 'urn:spark-release:worker';

export type DigestSet = Record<string, string>;

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest: DigestSet;
}

export interface ProvenanceStatement {
  _type: typeof STATEMENT_TYPE;
  subject: (ResourceDescriptor & { name: string })[];
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: Record<string, unknown>;
      resolvedDependencies: ResourceDescriptor[];
    };
    runDetails: {
      builder: { id: string; version: Record<string, string> };
      metadata: { invocationId: string };
    };
  };
}

export interface SourceTree {
  sha256: string;
  files: number;
}

function filesUnder(root: string, dir = ''): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return filesUnder(root, rel);
    return entry.isFile() ? [rel] : [];
  });
}

/**
 * sha256 of the tree's sha256sum manifest: one `<sha256>  <path>` line per
 * regular file, paths relative to the directory, in byte order. By hand:
 * `cd demo && find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum`
 */
export function sourceTreeDigest(dir: string): SourceTree {
  let files: string[];
  try {
    files = filesUnder(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  } catch (err) {
    throw new RitualInputError(`source directory ${dir}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (files.length === 0) throw new RitualInputError(`source directory ${dir}: no files to attest`);
  const manifest = files.map((f) => `${createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')}  ${f}\n`).join('');
  return { sha256: createHash('sha256').update(manifest).digest('hex'), files: files.length };
}

export interface ProvenanceInput {
  service: string;
  version: string;
  commit?: string;
  release: string;
  runId: string;
  initiator: string;
  /** As the plan names them (relative to the project root). */
  sourceDir: string;
  lockfile: string;
  source: SourceTree;
  lockfileSha256: string;
  sbom: { file: string; sha256: string };
}

export function buildProvenance(input: ProvenanceInput): ProvenanceStatement {
  return {
    _type: STATEMENT_TYPE,
    subject: [
      { name: `${input.service}@${input.version}`, digest: { sha256: input.source.sha256 } },
      { name: input.sbom.file, digest: { sha256: input.sbom.sha256 } },
    ],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          release: input.release,
          service: input.service,
          version: input.version,
          ...(input.commit ? { commit: input.commit } : {}),
          sourceDir: input.sourceDir,
          sourceFiles: input.source.files,
          lockfile: input.lockfile,
          initiator: input.initiator,
        },
        resolvedDependencies: [
          ...(input.commit ? [{ name: 'source', digest: { gitCommit: input.commit } }] : []),
          { name: input.lockfile, digest: { sha256: input.lockfileSha256 } },
        ],
      },
      runDetails: {
        builder: { id: BUILDER_ID, version: { 'spark-release': toolVersion, node: process.version } },
        metadata: { invocationId: `${input.release}/${input.runId}` },
      },
    },
  };
}

export function signProvenance(statement: ProvenanceStatement, privateKey: KeyObject): DsseEnvelope {
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'), privateKey);
}
