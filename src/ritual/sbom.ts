// The CycloneDX 1.6 SBOM of the released service, built from its npm lock file
// and validated offline against the schema the CycloneDX library ships.
// The document is a pure function of its inputs (no clock, no randomness): a
// retried check records the same bytes, and the provenance can bind its digest.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { version as toolVersion } from '../../package.json';
import { expressionProblem } from './spdx';

export const SBOM_SPEC_VERSION = '1.6';

/** A ritual input (lock file, source directory) is missing or unusable; the message names it. */
export class RitualInputError extends Error {
  override name = 'RitualInputError';
}

interface LockEntry {
  name?: string;
  version?: string;
  integrity?: string;
  license?: unknown;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

export interface Lockfile {
  file: string;
  sha256: string;
  packages: Record<string, LockEntry>;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads an npm lock file (lockfileVersion 2 or 3: the `packages` map). */
export function readLockfile(file: string): Lockfile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new RitualInputError(`lock file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: { lockfileVersion?: unknown; packages?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new RitualInputError(`lock file ${file}: not JSON (${(err as Error).message})`);
  }
  if (typeof doc.packages !== 'object' || doc.packages === null || !('' in doc.packages)) {
    throw new RitualInputError(`lock file ${file}: no "packages" map with a root entry (lockfileVersion ${String(doc.lockfileVersion)}); regenerate it with npm 7 or later`);
  }
  return { file, sha256: sha256Hex(text), packages: doc.packages as Record<string, LockEntry> };
}

export interface Clarification {
  /** name@version */
  package: string;
  licence: string;
  reason: string;
}

export interface SbomInput {
  service: string;
  version: string;
  commit?: string;
  release: string;
  runId: string;
  lock: Lockfile;
  clarifications: Clarification[];
}

/** The parts of a CycloneDX document this module writes and the licence policy reads. */
export interface CdxLicenceChoice {
  expression?: string;
  license?: { name: string; acknowledgement?: string };
  acknowledgement?: 'declared' | 'concluded';
}
export interface CdxProperty {
  name: string;
  value: string;
}
export interface CdxComponent {
  type: string;
  'bom-ref'?: string;
  group?: string;
  name: string;
  version?: string;
  scope?: 'required' | 'optional';
  purl?: string;
  hashes?: { alg: string; content: string }[];
  licenses?: CdxLicenceChoice[];
  properties?: CdxProperty[];
}
export interface CdxBom {
  bomFormat: 'CycloneDX';
  specVersion: string;
  serialNumber?: string;
  version: number;
  metadata?: { component?: CdxComponent; tools?: { components?: CdxComponent[] }; properties?: CdxProperty[] };
  components?: CdxComponent[];
  dependencies?: { ref: string; dependsOn?: string[] }[];
}

export const PROPERTY = {
  release: 'spark-release:release',
  run: 'spark-release:run',
  commit: 'spark-release:commit',
  lockfileSha256: 'spark-release:lockfile-sha256',
  declaredLicence: 'spark-release:declared-licence',
  clarification: 'spark-release:licence-clarification',
} as const;

const HASH_ALGS: Record<string, string> = { sha1: 'SHA-1', sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

/** npm's integrity (SRI, e.g. `sha512-<base64>`) as CycloneDX hashes (hex). */
function hashesOf(integrity: string | undefined): { alg: string; content: string }[] {
  return (integrity ?? '').split(/\s+/).flatMap((sri) => {
    const m = /^(sha1|sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})$/.exec(sri);
    return m ? [{ alg: HASH_ALGS[m[1]!]!, content: Buffer.from(m[2]!, 'base64').toString('hex') }] : [];
  });
}

function nameOf(path: string, entry: LockEntry): string {
  return entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

export function purlOf(name: string, version: string): string {
  const [scope, bare] = name.startsWith('@') ? name.split('/', 2) as [string, string] : [undefined, name];
  return `pkg:npm/${scope ? `${encodeURIComponent(scope)}/` : ''}${encodeURIComponent(bare)}@${encodeURIComponent(version)}`;
}

/** Node's resolution inside the lock: the nearest node_modules/<name> walking up from `from`. */
function resolve(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!base) return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i === -1 ? '' : base.slice(0, i);
  }
}

function licencesOf(name: string, version: string, declared: unknown, clarifications: Map<string, Clarification>): { licenses?: CdxLicenceChoice[]; properties: CdxProperty[] } {
  const clarified = clarifications.get(`${name}@${version}`);
  const declaredText = typeof declared === 'string' && declared.trim() !== '' ? declared.trim() : undefined;
  if (clarified) {
    return {
      licenses: [{ expression: clarified.licence, acknowledgement: 'concluded' }],
      properties: [
        { name: PROPERTY.declaredLicence, value: declaredText ?? '(none)' },
        { name: PROPERTY.clarification, value: clarified.reason },
      ],
    };
  }
  if (!declaredText) return { properties: [] };
  // A declared text that is not SPDX (e.g. "SEE LICENSE IN LICENSE.md") is kept as a named licence.
  const choice: CdxLicenceChoice = expressionProblem(declaredText) === null
    ? { expression: declaredText, acknowledgement: 'declared' }
    : { license: { name: declaredText, acknowledgement: 'declared' } };
  return { licenses: [choice], properties: [] };
}

/** The released service and every runtime (non-dev) package of the lock, with their dependency graph. */
export function buildSbom(input: SbomInput): CdxBom {
  const { packages } = input.lock;
  const clarifications = new Map(input.clarifications.map((c) => [c.package, c]));
  const rootRef = `${input.service}@${input.version}`;
  const components = new Map<string, CdxComponent>();
  const edges = new Map<string, Set<string>>([[rootRef, new Set()]]);
  const refOfPath = new Map<string, string>();

  const target = (path: string): [string, LockEntry] | undefined => {
    const entry = packages[path];
    if (!entry) return undefined;
    // A linked package (workspace) is described by the entry it links to.
    return entry.link && entry.resolved && packages[entry.resolved] ? [entry.resolved, packages[entry.resolved]!] : [path, entry];
  };

  for (const path of Object.keys(packages).sort()) {
    // Installed packages only; a workspace's own entry is reached through its link.
    const found = path.includes('node_modules/') ? target(path) : undefined;
    if (!found) continue;
    const [, entry] = found;
    if (entry.dev || !entry.version) continue;
    const name = nameOf(path, entry);
    const purl = purlOf(name, entry.version);
    refOfPath.set(path, purl);
    if (components.has(purl)) continue;
    const slash = name.startsWith('@') ? name.indexOf('/') : -1;
    const { licenses, properties } = licencesOf(name, entry.version, entry.license, clarifications);
    const hashes = hashesOf(entry.integrity);
    components.set(purl, {
      type: 'library',
      'bom-ref': purl,
      ...(slash > 0 ? { group: name.slice(0, slash), name: name.slice(slash + 1) } : { name }),
      version: entry.version,
      scope: entry.optional || entry.devOptional ? 'optional' : 'required',
      purl,
      ...(hashes.length ? { hashes } : {}),
      ...(licenses ? { licenses } : {}),
      ...(properties.length ? { properties } : {}),
    });
    edges.set(purl, new Set());
  }

  for (const path of ['', ...refOfPath.keys()]) {
    const entry = packages[path]!;
    const from = path === '' ? rootRef : refOfPath.get(path)!;
    const names = Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies });
    for (const dep of names) {
      const resolved = resolve(packages, target(path)?.[0] ?? path, dep);
      const ref = resolved === undefined ? undefined : refOfPath.get(resolved);
      // Unresolved: an optional dependency for another platform, or a dev package.
      if (ref && ref !== from) edges.get(from)!.add(ref);
    }
  }

  const properties: CdxProperty[] = [
    { name: PROPERTY.release, value: input.release },
    { name: PROPERTY.run, value: input.runId },
    { name: PROPERTY.lockfileSha256, value: input.lock.sha256 },
  ];
  return {
    bomFormat: 'CycloneDX',
    specVersion: SBOM_SPEC_VERSION,
    // Unique per release run, stable across retries of the same run.
    serialNumber: `urn:uuid:${uuidV5(`${input.release}/${input.runId}/${input.lock.sha256}`)}`,
    version: 1,
    metadata: {
      tools: { components: [{ type: 'application', name: 'spark-release', version: toolVersion }] },
      component: {
        type: 'application',
        'bom-ref': rootRef,
        name: input.service,
        version: input.version,
        ...(input.commit ? { properties: [{ name: PROPERTY.commit, value: input.commit }] } : {}),
      },
      properties,
    },
    components: [...components.values()],
    dependencies: [...edges].map(([ref, deps]) => ({ ref, dependsOn: [...deps].sort() })),
  };
}

export function sbomJson(bom: CdxBom): string {
  return `${JSON.stringify(bom, null, 2)}\n`;
}

// RFC 4122 name-based UUID (version 5, SHA-1) in the URL namespace.
function uuidV5(name: string): string {
  const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);

interface SchemaError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * Problems of a CycloneDX 1.6 JSON document: the schema's (offline, from the
 * library's bundled schemas) and dangling dependency references. Empty when valid.
 */
export async function validateSbom(json: string): Promise<string[]> {
  let doc: CdxBom;
  try {
    doc = JSON.parse(json) as CdxBom;
  } catch (err) {
    return [`not JSON: ${(err as Error).message}`];
  }
  const errors = (await validator.validate(json)) as SchemaError[] | null;
  if (errors) {
    return errors.map((e) => {
      const extra = e.params?.additionalProperty ?? e.params?.allowedValues;
      return `${e.instancePath || '(document)'}: ${e.message ?? 'invalid'}${extra === undefined ? '' : ` (${JSON.stringify(extra)})`}`;
    });
  }
  const refs = new Set([doc.metadata?.component?.['bom-ref'], ...(doc.components ?? []).map((c) => c['bom-ref'])]);
  return (doc.dependencies ?? []).flatMap((d, i) =>
    [d.ref, ...(d.dependsOn ?? [])].filter((r) => !refs.has(r)).map((r) => `/dependencies/${i}: "${r}" is not the bom-ref of any component`),
  );
}
