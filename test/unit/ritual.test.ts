// The green button's supply chain: DSSE (against the spec's test vectors), the
// CycloneDX SBOM (against the schema the CycloneDX library ships), the SLSA
// provenance, the licence policy, the signed GO/NO-GO record and the checks.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  blindSbomProvenance, blindSpotScan, buildProvenanceCheck, rtSbomAttached, rtSbomLicenceDrift, sbom as sbomCheck,
} from '../../src/activities/checks/ritual-sbom';
import type { CheckEnv } from '../../src/activities/checks/types';
import { main } from '../../src/client';
import { projectRoot } from '../../src/config';
import {
  DsseError, keyIdOf, loadSigningKey, pae, parseEnvelope, signEnvelope, SigningKeyError, verifyEnvelope, type DsseEnvelope,
} from '../../src/ritual/dsse';
import { goNoGoPayload, goNoGoText, GO_NOGO_PAYLOAD_TYPE } from '../../src/ritual/go-nogo';
import { assertLicencePolicy, evaluateLicences, licencePolicyProblems, type LicencePolicy } from '../../src/ritual/licence';
import type { RitualPlan } from '../../src/ritual/plan';
import { IN_TOTO_PAYLOAD_TYPE, sourceTreeDigest } from '../../src/ritual/provenance';
import { buildSbom, readLockfile, sbomJson, sha256Hex, validateSbom, type CdxBom, type Clarification } from '../../src/ritual/sbom';
import { verifySignedFile } from '../../src/ritual/verify';
import { parsePlan, PlanError } from '../../src/plan/schema';
import type { CheckResult, GateState } from '../../src/workflows/messages';

jest.setTimeout(30_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ritual-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, body: string | Buffer): string {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, body);
  return file;
}

function ed25519(name: string): { privateKey: KeyObject; publicKey: KeyObject; privateFile: string; publicFile: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey, publicKey,
    privateFile: write(`${name}.pem`, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string),
    publicFile: write(`${name}.pub.pem`, publicKey.export({ format: 'pem', type: 'spki' }) as string),
  };
}

/** Runs `fn` with SPARK_SIGNING_KEY set to `file` (or unset), restoring it afterwards. */
async function withSigningKey<T>(file: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env.SPARK_SIGNING_KEY;
  if (file === undefined) delete process.env.SPARK_SIGNING_KEY;
  else process.env.SPARK_SIGNING_KEY = file;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.SPARK_SIGNING_KEY;
    else process.env.SPARK_SIGNING_KEY = before;
  }
}

function errorOf(call: () => unknown): Error {
  try {
    call();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error, but the call succeeded');
}

describe('DSSE PAE and envelopes', () => {
  // secure-systems-lab/dsse protocol.md, "Test Vectors".
  it('encodes the protocol example as the spec writes it', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('produces the bytes the spec example signature covers (ECDSA P-256 key of protocol.md)', () => {
    const coordinate = (decimal: string) => Buffer.from(BigInt(decimal).toString(16).padStart(64, '0'), 'hex').toString('base64url');
    const specKey = createPublicKey({
      key: {
        kty: 'EC', crv: 'P-256',
        x: coordinate('46950820868899156662930047687818585632848591499744589407958293238635476079160'),
        y: coordinate('5640078356564379163099075877009565129882514886557779369047442380624545832820'),
      },
      format: 'jwk',
    });
    const signature = Buffer.from('A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==', 'base64');
    const check = (body: string) => verify('sha256', pae('http://example.com/HelloWorld', Buffer.from(body)), { key: specKey, dsaEncoding: 'ieee-p1363' }, signature);
    expect(check('hello world')).toBe(true);
    expect(check('hello world!')).toBe(false);
  });

  // secure-systems-lab/dsse testvectors/vectors.json: key A is RFC 8032's first Ed25519 test key.
  const seedA = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const keyA = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seedA]), format: 'der', type: 'pkcs8' });
  const publicA = createPublicKey(keyA);
  const statement = 'eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==';

  it.each([
    ['a statement', IN_TOTO_PAYLOAD_TYPE, statement, '445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d'],
    ['a non-ASCII type (29 bytes, 28 characters)', 'application/vnd.exämple+json', statement, '445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d'],
    ['an empty payload (trailing space)', IN_TOTO_PAYLOAD_TYPE, '', '445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203020'],
  ])('matches the vectors file for %s', (_name, type, payload, hex) => {
    expect(pae(type, Buffer.from(payload, 'base64')).toString('hex')).toBe(hex);
  });

  it('signs the vectors file\'s statement with key A to its signature (Ed25519 is deterministic)', () => {
    const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(statement, 'base64'), keyA);
    expect(envelope.signatures[0]!.sig).toBe('2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==');
    expect(envelope.signatures[0]!.keyid).toBe(`sha256:${createHash('sha256').update(publicA.export({ format: 'der', type: 'spki' })).digest('hex')}`);
  });

  it.each([
    ['single-signature', { payload: statement, payloadType: IN_TOTO_PAYLOAD_TYPE, sig: '2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==' }, [IN_TOTO_PAYLOAD_TYPE], null],
    ['url-safe-base64', { payload: '-_-_Pj8=', payloadType: IN_TOTO_PAYLOAD_TYPE, sig: 'P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw==' }, [IN_TOTO_PAYLOAD_TYPE], null],
    ['empty-payload', { payload: '', payloadType: IN_TOTO_PAYLOAD_TYPE, sig: 'gSggCAaTLTYyRH6FIDBem6meyIynsYy8RTHVzwx9tnTb7Bg/1jMWnuVgI/gffqmbsC2VX5/jHfkkDqsj7CDbDg==' }, [IN_TOTO_PAYLOAD_TYPE], null],
    ['payload-type-swapped', { payload: statement, payloadType: 'application/vnd.example.other+json', sig: '2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==' }, [IN_TOTO_PAYLOAD_TYPE, 'application/vnd.example.other+json'], /no signature verifies/],
    ['empty-payload-type', { payload: statement, payloadType: '', sig: 'iC3q/+3Rm0+lpAJRueDmDh15PnwCfxKmS0NAfKsbv+zgulXQC/WM9trc+j1XEqlwDIg/vf/uNfebeD6sxInrDg==' }, [IN_TOTO_PAYLOAD_TYPE], /payloadType: "" is not one of/],
  ] as const)('verifies the vector %s as the file expects', (_id, v, accepted, rejection) => {
    const envelope = { payload: v.payload, payloadType: v.payloadType, signatures: [{ sig: v.sig, keyid: 'A' }] };
    if (rejection) expect(() => verifyEnvelope(envelope, publicA, [...accepted])).toThrow(rejection);
    else expect(verifyEnvelope(envelope, publicA, [...accepted]).body).toEqual(Buffer.from(v.payload, 'base64'));
  });

  const signer = ed25519('roundtrip');
  const body = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'x', digest: { sha256: 'ab' } }] }));

  it('verifies what it signed, returning the payload and the keyid', () => {
    const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, body, signer.privateKey);
    const verified = verifyEnvelope(JSON.parse(JSON.stringify(envelope)), signer.publicKey, [IN_TOTO_PAYLOAD_TYPE]);
    expect(verified.body.equals(body)).toBe(true);
    expect(verified.keyid).toBe(keyIdOf(signer.publicKey));
  });

  it('rejects a tampered payload, a changed type and another key', () => {
    const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, body, signer.privateKey);
    const tampered = { ...envelope, payload: Buffer.from(body.toString().replace('"x"', '"y"')).toString('base64') };
    expect(() => verifyEnvelope(tampered, signer.publicKey, [IN_TOTO_PAYLOAD_TYPE])).toThrow(/no signature verifies .*changed after signing/);
    const retyped = { ...envelope, payloadType: 'application/vnd.spark-release.go-nogo.v1+json' };
    expect(() => verifyEnvelope(retyped, signer.publicKey, [IN_TOTO_PAYLOAD_TYPE, retyped.payloadType])).toThrow(DsseError);
    const other = ed25519('other');
    expect(() => verifyEnvelope(envelope, other.publicKey, [IN_TOTO_PAYLOAD_TYPE])).toThrow(new RegExp(`no signature verifies with key ${keyIdOf(other.publicKey)}`));
  });

  it.each([
    ['not an object', '{}x', /^envelope: must be a JSON object/],
    ['no payloadType', { payload: '', signatures: [{ sig: '' }] }, /^payloadType: must be a string/],
    ['a payload that is not base64', { payloadType: 't', payload: 'a b', signatures: [{ sig: '' }] }, /^payload: not base64/],
    ['no signatures', { payloadType: 't', payload: '', signatures: [] }, /^signatures: must be a non-empty list/],
    ['a signature without sig', { payloadType: 't', payload: '', signatures: [{ keyid: 'k' }] }, /^signatures\[0\]\.sig: must be a base64 string/],
  ])('refuses an envelope with %s, naming the field', (_name, input, expected) => {
    expect(() => parseEnvelope(input)).toThrow(expected);
  });

  it('signs and verifies with Ed25519 only', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => signEnvelope(IN_TOTO_PAYLOAD_TYPE, body, privateKey)).toThrow(/an ec key; the ritual signs and verifies with Ed25519 only/);
    const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, body, signer.privateKey);
    expect(() => verifyEnvelope(envelope, publicKey, [IN_TOTO_PAYLOAD_TYPE])).toThrow(SigningKeyError);
  });
});

describe('the signing key from configuration', () => {
  it('refuses to sign without SPARK_SIGNING_KEY, saying how to make one', () => {
    const err = errorOf(() => loadSigningKey({}));
    expect(err).toBeInstanceOf(SigningKeyError);
    expect(err.message).toMatch(/^no signing key configured: set SPARK_SIGNING_KEY to an Ed25519 private key \(PEM\).*openssl genpkey -algorithm ed25519/);
  });

  it('names an unreadable, unparsable or non-Ed25519 key file', () => {
    expect(errorOf(() => loadSigningKey({ SPARK_SIGNING_KEY: path.join(tmp, 'absent.pem') })).message).toMatch(/^SPARK_SIGNING_KEY=.*absent\.pem: cannot read the key file \(ENOENT\)/);
    const garbage = write('garbage.pem', 'not a key');
    expect(errorOf(() => loadSigningKey({ SPARK_SIGNING_KEY: garbage })).message).toMatch(/garbage\.pem: not a PEM private key/);
    const rsa = write('rsa.pem', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    expect(errorOf(() => loadSigningKey({ SPARK_SIGNING_KEY: rsa })).message).toMatch(/rsa\.pem: an rsa key; the ritual signs and verifies with Ed25519 only/);
  });

  it('loads an Ed25519 key, with its public half and keyid', () => {
    const k = ed25519('loaded');
    const loaded = loadSigningKey({ SPARK_SIGNING_KEY: k.privateFile });
    expect(loaded.keyid).toBe(keyIdOf(k.publicKey));
    expect(loaded.publicKey.export({ format: 'pem', type: 'spki' })).toBe(k.publicKey.export({ format: 'pem', type: 'spki' }));
  });
});

// A small lock: a scoped package with a nested older copy of a dependency, an
// optional package, a dev package, and licences of every kind.
const integrity = (name: string) => `sha512-${createHash('sha512').update(name).digest('base64')}`;
const LOCK = {
  name: 'svc', version: '1.0.0', lockfileVersion: 3, requires: true,
  packages: {
    '': { name: 'svc', version: '1.0.0', dependencies: { '@acme/core': '^1', left: '^2', 'opt-native': '^1', mixed: '^1', lgpl: '^1' }, devDependencies: { tester: '^9' } },
    'node_modules/@acme/core': { version: '1.2.0', integrity: integrity('core'), license: 'MIT', dependencies: { left: '^1' } },
    'node_modules/@acme/core/node_modules/left': { version: '1.0.0', integrity: integrity('left1'), license: 'MIT OR GPL-3.0-only' },
    'node_modules/left': { version: '2.0.0', integrity: integrity('left2'), license: 'Apache-2.0', dependencies: { right: '*' } },
    'node_modules/right': { version: '3.1.0', integrity: integrity('right') },
    'node_modules/opt-native': { version: '1.0.0', integrity: integrity('opt'), license: 'SEE LICENSE IN LICENSE', optional: true },
    'node_modules/mixed': { version: '1.0.0', integrity: integrity('mixed'), license: 'MIT AND GPL-3.0-only' },
    'node_modules/lgpl': { version: '1.0.0', integrity: integrity('lgpl'), license: 'LGPL-2.1-only' },
    'node_modules/tester': { version: '9.9.9', integrity: integrity('tester'), license: 'GPL-3.0-only', dev: true },
  },
};
const lockFile = write('fixture/package-lock.json', JSON.stringify(LOCK));
const clarifications: Clarification[] = [{ package: 'right@3.1.0', licence: 'ISC', reason: 'LICENSE file is ISC' }];

function fixtureBom(overrides: { runId?: string; clarifications?: Clarification[]; lock?: string } = {}): CdxBom {
  return buildSbom({
    service: 'spark-trading', version: 'v1.4.0', commit: 'abc1234', release: 'release-spark-trading-v1.4.0', runId: overrides.runId ?? 'run-1',
    lock: readLockfile(overrides.lock ?? lockFile), clarifications: overrides.clarifications ?? clarifications,
  });
}

describe('the CycloneDX SBOM', () => {
  it('lists the runtime packages of the lock, with purl, hash, scope and licence, and validates', async () => {
    const bom = fixtureBom();
    expect(bom.specVersion).toBe('1.6');
    expect(bom.metadata?.component).toMatchObject({ type: 'application', 'bom-ref': 'spark-trading@v1.4.0', name: 'spark-trading', version: 'v1.4.0' });
    expect(bom.components!.map((c) => c.purl)).toEqual([
      'pkg:npm/%40acme/core@1.2.0', 'pkg:npm/left@1.0.0', 'pkg:npm/left@2.0.0', 'pkg:npm/lgpl@1.0.0', 'pkg:npm/mixed@1.0.0', 'pkg:npm/opt-native@1.0.0', 'pkg:npm/right@3.1.0',
    ]);
    const core = bom.components![0]!;
    expect(core).toMatchObject({ group: '@acme', name: 'core', scope: 'required', licenses: [{ expression: 'MIT', acknowledgement: 'declared' }] });
    expect(core.hashes).toEqual([{ alg: 'SHA-512', content: createHash('sha512').update('core').digest('hex') }]);
    expect(bom.components!.find((c) => c.name === 'opt-native')).toMatchObject({ scope: 'optional', licenses: [{ license: { name: 'SEE LICENSE IN LICENSE' } }] });
    expect(bom.components!.find((c) => c.name === 'right')).toMatchObject({
      licenses: [{ expression: 'ISC', acknowledgement: 'concluded' }],
      properties: [{ name: 'spark-release:declared-licence', value: '(none)' }, { name: 'spark-release:licence-clarification', value: 'LICENSE file is ISC' }],
    });
    expect(await validateSbom(sbomJson(bom))).toEqual([]);
  });

  it('resolves dependencies as Node does: the nested copy first, then up the tree', () => {
    const edges = Object.fromEntries(fixtureBom().dependencies!.map((d) => [d.ref, d.dependsOn]));
    expect(edges['spark-trading@v1.4.0']).toEqual(['pkg:npm/%40acme/core@1.2.0', 'pkg:npm/left@2.0.0', 'pkg:npm/lgpl@1.0.0', 'pkg:npm/mixed@1.0.0', 'pkg:npm/opt-native@1.0.0']);
    expect(edges['pkg:npm/%40acme/core@1.2.0']).toEqual(['pkg:npm/left@1.0.0']);
    expect(edges['pkg:npm/left@2.0.0']).toEqual(['pkg:npm/right@3.1.0']);
  });

  it('is the same bytes for the same run, with a serial number of its own per run', () => {
    expect(sbomJson(fixtureBom())).toBe(sbomJson(fixtureBom()));
    expect(fixtureBom({ runId: 'run-2' }).serialNumber).not.toBe(fixtureBom().serialNumber);
    expect(fixtureBom().serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('of this project\'s lock file validates against the CycloneDX 1.6 schema', async () => {
    const lock = readLockfile(path.join(projectRoot, 'package-lock.json'));
    const bom = buildSbom({ service: 'spark-trading', version: 'v1.4.0', release: 'r', runId: 'run', lock, clarifications: [] });
    const runtime = Object.entries(JSON.parse(fs.readFileSync(path.join(projectRoot, 'package-lock.json'), 'utf8')).packages as Record<string, { dev?: boolean; version?: string }>)
      .filter(([p, e]) => p !== '' && !e.dev)
      .map(([p, e]) => `${p.slice(p.lastIndexOf('node_modules/') + 13)}@${e.version}`);
    expect(new Set(bom.components!.map((c) => `${c.group ? `${c.group}/` : ''}${c.name}@${c.version}`))).toEqual(new Set(runtime));
    expect(await validateSbom(sbomJson(bom))).toEqual([]);
  });

  it.each<[string, (bom: Record<string, any>) => void, RegExp]>([
    ['a purl that is not a string', (b) => { b.components[0].purl = 42; }, /^\/components\/0\/purl: must be string/],
    ['no bomFormat', (b) => { delete b.bomFormat; }, /^\(document\): must have required property 'bomFormat'/],
    ['a hash that is not hex', (b) => { b.components[1].hashes[0].content = 'not-hex'; }, /^\/components\/1\/hashes\/0\/content: must match pattern/],
    ['an unknown component type', (b) => { b.components[2].type = 'gadget'; }, /^\/components\/2\/type: must be equal to one of the allowed values/],
    ['a field the schema does not know', (b) => { b.components[3].licence = 'MIT'; }, /^\/components\/3: must NOT have additional properties \("licence"\)/],
    ['a dependency on nothing', (b) => { b.dependencies[0].dependsOn.push('pkg:npm/ghost@1.0.0'); }, /^\/dependencies\/0: "pkg:npm\/ghost@1\.0\.0" is not the bom-ref of any component/],
  ])('fails validation with %s, naming where', async (_name, corrupt, expected) => {
    const doc = JSON.parse(sbomJson(fixtureBom()));
    corrupt(doc);
    const problems = await validateSbom(JSON.stringify(doc));
    expect(problems[0]).toMatch(expected);
  });

  it('refuses a lock file without a packages map, or none at all, naming it', () => {
    const v1 = write('v1/package-lock.json', JSON.stringify({ lockfileVersion: 1, dependencies: {} }));
    expect(errorOf(() => readLockfile(v1)).message).toMatch(/v1\/package-lock\.json: no "packages" map with a root entry \(lockfileVersion 1\); regenerate it with npm 7 or later/);
    expect(errorOf(() => readLockfile(path.join(tmp, 'none.json'))).message).toMatch(/none\.json: cannot read it \(ENOENT\)/);
  });
});

describe('the licence policy', () => {
  const policy: LicencePolicy = { allow: ['MIT', 'Apache-2.0', 'ISC'], deny: ['GPL-1.0-or-later', 'AGPL-1.0-or-later'], clarifications };

  it('sorts every component into allowed, restrictive, unlisted and unknown', () => {
    const report = evaluateLicences(fixtureBom(), policy);
    expect(report.ok).toBe(false);
    expect(report.counts).toEqual({ restrictive: 1, unknown: 1, unlisted: 1, allowed: 4 });
    expect(report.violations.map((v) => [v.verdict, v.package, v.licence])).toEqual([
      ['restrictive', 'mixed@1.0.0', 'MIT AND GPL-3.0-only'],
      ['unknown', 'opt-native@1.0.0', 'SEE LICENSE IN LICENSE'],
      ['unlisted', 'lgpl@1.0.0', 'LGPL-2.1-only'],
    ]);
    expect(report.violations[0]!.detail).toBe('cannot be used without GPL-3.0-only (denied)');
    expect(report.violations[2]!.detail).toMatch(/^LGPL-2\.1-only is neither allowed nor denied/);
    // "MIT OR GPL-3.0-only" may be used under MIT; the clarified package is allowed as concluded.
    expect(report.clarified).toEqual([expect.objectContaining({ package: 'right@3.1.0', licence: 'ISC', acknowledgement: 'concluded', verdict: 'allowed' })]);
    expect(report.summary).toBe('3 of 7 components not allowed: 1 restrictive, 1 unknown, 1 unlisted (first: mixed@1.0.0 MIT AND GPL-3.0-only)');
  });

  it('calls a package without a licence unknown until a person clarifies it, and reports stale clarifications', () => {
    const report = evaluateLicences(fixtureBom({ clarifications: [] }), { ...policy, clarifications: [{ package: 'right@3.0.0', licence: 'ISC', reason: 'old' }] });
    expect(report.violations.find((v) => v.package === 'right@3.1.0')).toMatchObject({ verdict: 'unknown', licence: null, detail: expect.stringMatching(/^declares no licence/) });
    expect(report.staleClarifications).toEqual(['right@3.0.0']);
  });

  it('passes when every component is allowed', () => {
    const read = [...clarifications, { package: 'opt-native@1.0.0', licence: 'MIT', reason: 'LICENSE is MIT' }];
    const report = evaluateLicences(fixtureBom({ clarifications: read }), { allow: [...policy.allow, 'LGPL-2.1-only', 'GPL-3.0-only'], deny: [], clarifications: read });
    expect(report).toMatchObject({ ok: true, violations: [], summary: '7 components, every licence allowed' });
    expect(report.counts.allowed).toBe(7);
  });

  it('reports drift against a previous release\'s SBOM: changed and added licences', () => {
    const previous = structuredClone(LOCK) as { packages: Record<string, Record<string, unknown>> };
    previous.packages['node_modules/left']!.license = 'MIT';
    delete previous.packages['node_modules/lgpl'];
    const reference = fixtureBom({ lock: write('previous/package-lock.json', JSON.stringify(previous)) });
    const drift = evaluateLicences(fixtureBom(), policy, { name: 'sbom_v1.3.1.json', bom: reference }).drift;
    expect(drift).toEqual({
      reference: 'sbom_v1.3.1.json',
      changed: [{ package: 'left@2.0.0', from: ['MIT OR GPL-3.0-only', 'MIT'], to: 'Apache-2.0' }],
      added: [{ package: 'lgpl@1.0.0', licence: 'LGPL-2.1-only' }],
    });
    expect(evaluateLicences(fixtureBom(), policy).drift).toBeNull();
  });
});

describe('the plan\'s ritual section', () => {
  const shipped = () => YAML.parse(fs.readFileSync(path.join(projectRoot, 'plans/v1.4.0.yaml'), 'utf8')) as Record<string, any>;
  const problems = (doc: unknown) => {
    try {
      parsePlan(doc);
    } catch (err) {
      if (err instanceof PlanError) return err.problems;
      throw err;
    }
    return [];
  };

  it('ships a policy that every runtime package of this project passes', () => {
    const plan = parsePlan(shipped());
    const lock = readLockfile(path.join(projectRoot, plan.ritual!.lockfile));
    const bom = buildSbom({ service: plan.service, version: plan.version, release: 'r', runId: 'run', lock, clarifications: plan.ritual!.licences.clarifications });
    const report = evaluateLicences(bom, plan.ritual!.licences);
    expect(report.violations).toEqual([]);
    expect(report.staleClarifications).toEqual([]);
  });

  it.each<[string, (doc: Record<string, any>) => void, string]>([
    ['a clarification without a version', (d) => { d.ritual.licences.clarifications[0].package = 'unionfs'; }, 'ritual.licences.clarifications[0].package: name@version'],
    ['an empty allow list', (d) => { d.ritual.licences.allow = []; }, 'ritual.licences.allow: list the licences a release may ship'],
    ['SBOM checks without a ritual section', (d) => { delete d.ritual; }, 'ritual: the checks blind-sbom-provenance, rt-sbom-attached, rt-sbom-licence-drift, sbom, build-provenance need a ritual section'],
  ])('refuses %s when the plan is parsed, naming the field', (_name, breakIt, expected) => {
    const doc = shipped();
    breakIt(doc);
    expect(problems(doc)).toEqual([expect.stringContaining(expected)]);
  });

  // The SPDX checks need the SPDX licence list, which the workflow bundle cannot load: the CLI runs them.
  it.each<[string, (doc: Record<string, any>) => void, string]>([
    ['a licence that is not SPDX', (d) => { d.ritual.licences.allow[1] = 'MIT-ish'; }, 'ritual.licences.allow[1]: "MIT-ish" is not an SPDX licence expression'],
    ['an AND in the deny list', (d) => { d.ritual.licences.deny.push('MIT AND ISC'); }, 'ritual.licences.deny[4]: "MIT AND ISC" combines licences with AND/OR'],
    ['a licence both allowed and denied', (d) => { d.ritual.licences.allow.push('GPL-3.0-only'); }, 'ritual.licences.allow[11]: "GPL-3.0-only" is also denied (ritual.licences.deny)'],
    ['a clarification that is not SPDX', (d) => { d.ritual.licences.clarifications[0].licence = 'public domain'; }, 'ritual.licences.clarifications[0].licence: "public domain" is not an SPDX licence expression'],
  ])('refuses %s before a release starts, naming the field', (_name, breakIt, expected) => {
    const doc = shipped();
    breakIt(doc);
    const plan = parsePlan(doc);
    expect(licencePolicyProblems(plan.ritual!)).toEqual([expect.stringContaining(expected)]);
    expect(() => assertLicencePolicy(plan, 'plans/broken.yaml')).toThrow(PlanError);
  });

  it('makes `plan check` fail with the field named', async () => {
    const doc = shipped();
    doc.ritual.licences.deny[0] = 'GPL';
    const file = write('plans/broken-licences.yaml', YAML.stringify(doc));
    const err: string[] = [];
    expect(await main(['plan', 'check', file], () => undefined, (l) => err.push(l))).toBe(2);
    expect(err.join('\n')).toMatch(/broken-licences\.yaml[\s\S]*ritual\.licences\.deny\[0\]: "GPL" is not an SPDX licence expression/);
  });

  it('finds nothing wrong with the shipped licence lists', () => {
    expect(licencePolicyProblems(parsePlan(shipped()).ritual!)).toEqual([]);
  });
});

/** A check's environment for this release; the ritual checks never touch metrics. */
function checkEnv(ritual: RitualPlan | undefined, extra: Partial<CheckEnv['context']> = {}): CheckEnv {
  return {
    release: 'release-spark-trading-v1.4.0', runId: 'run-1', service: 'spark-trading', version: 'v1.4.0',
    metrics: {} as CheckEnv['metrics'], signal: new AbortController().signal,
    context: {
      signalQueries: {}, traffic: { router: 'record-only' }, initiator: 'deniz', commit: 'abc1234', canaryPlan: '', limits: {}, expectedTargets: {},
      ritual, ...extra,
    },
  };
}

describe('the ritual checks', () => {
  const source = path.join(tmp, 'service');
  write('service/server.ts', 'export const port = 8080;\n');
  write('service/lib/money.ts', 'export const tick = "0.01";\n');
  const ritual: RitualPlan = { lockfile: lockFile, sourceDir: source, licences: { allow: ['MIT', 'Apache-2.0', 'ISC', 'LGPL-2.1-only'], deny: ['GPL-1.0-or-later'], clarifications } };
  const key = ed25519('checks');

  it('digests the source tree as its sha256sum manifest', () => {
    const manifest = ['lib/money.ts', 'server.ts'].map((f) => `${sha256Hex(fs.readFileSync(path.join(source, f)))}  ${f}\n`).join('');
    expect(sourceTreeDigest(source)).toEqual({ sha256: sha256Hex(manifest), files: 2 });
  });

  it('build-provenance fails without a key, says how to configure one, and signs nothing', async () => {
    const report = await withSigningKey(undefined, () => buildProvenanceCheck(checkEnv(ritual)));
    expect(report).toEqual({ status: 'fail', summary: expect.stringMatching(/^no signing key configured: set SPARK_SIGNING_KEY/), files: {} });
    const attached = await withSigningKey(undefined, () => rtSbomAttached(checkEnv(ritual)));
    expect(attached.status).toBe('fail');
    expect(attached.files['redteam_v1.4.0.txt']).toMatch(/binding: not attached: no signing key configured/);
  });

  it('signs provenance whose subjects are the source tree and the very SBOM file the sbom check writes', async () => {
    const sbom = await sbomCheck(checkEnv(ritual));
    expect(sbom.status).toBe('pass');
    const provenance = await withSigningKey(key.privateFile, () => buildProvenanceCheck(checkEnv(ritual)));
    expect(provenance.status).toBe('pass');
    const envelope = JSON.parse(provenance.files['build_provenance_v1.4.0.json']!) as DsseEnvelope;
    const statement = JSON.parse(verifyEnvelope(envelope, key.publicKey, [IN_TOTO_PAYLOAD_TYPE]).body.toString());
    expect(statement).toMatchObject({
      _type: 'https://in-toto.io/Statement/v1',
      predicateType: 'https://slsa.dev/provenance/v1',
      subject: [
        { name: 'spark-trading@v1.4.0', digest: { sha256: sourceTreeDigest(source).sha256 } },
        { name: 'sbom_v1.4.0.json', digest: { sha256: sha256Hex(sbom.files['sbom_v1.4.0.json']!) } },
      ],
      predicate: {
        buildDefinition: {
          buildType: 'urn:spark-release:green-button:v1',
          resolvedDependencies: [{ name: 'source', digest: { gitCommit: 'abc1234' } }, { name: lockFile, digest: { sha256: sha256Hex(fs.readFileSync(lockFile)) } }],
        },
        runDetails: { metadata: { invocationId: 'release-spark-trading-v1.4.0/run-1' } },
      },
    });
    // What `spark-release provenance verify --artifact` does with the written files.
    const provenanceFile = write('evidence/build_provenance_v1.4.0.json', provenance.files['build_provenance_v1.4.0.json']!);
    const sbomFile = write('evidence/sbom_v1.4.0.json', sbom.files['sbom_v1.4.0.json']!);
    expect(verifySignedFile(provenanceFile, key.publicFile, [sbomFile]).at(-1)).toMatch(/^artifact: sbom_v1\.4\.0\.json sha256:[0-9a-f]{64} is subject sbom_v1\.4\.0\.json$/);
    const edited = write('evidence/sbom_edited.json', sbom.files['sbom_v1.4.0.json']!.replace('"1.2.0"', '"1.2.1"'));
    expect(() => verifySignedFile(provenanceFile, key.publicFile, [edited])).toThrow(/is not the digest of any subject/);
    expect(() => verifySignedFile(provenanceFile, ed25519('stranger').publicFile)).toThrow(/no signature verifies/);
  });

  it('rt-sbom-attached passes with a key and writes what it checked', async () => {
    const report = await withSigningKey(key.privateFile, () => rtSbomAttached(checkEnv(ritual)));
    expect(report.status).toBe('pass');
    expect(report.files['redteam_v1.4.0.txt']).toMatch(/names the release: yes \(spark-trading@v1\.4\.0\)\ncomponents without a hash: 0\nbinding: provenance subject sbom_v1\.4\.0\.json carries the SBOM's sha256.*\nresult: PASS\n$/);
  });

  it('rt-sbom-licence-drift fails on a restrictive licence and lists it in sbom_restrictive_licenses.json', async () => {
    const report = await rtSbomLicenceDrift(checkEnv(ritual));
    expect(report.status).toBe('fail');
    expect(report.summary).toMatch(/^2 of 7 components not allowed: 1 restrictive, 1 unknown/);
    const json = JSON.parse(report.files['sbom_restrictive_licenses.json']!);
    expect(json).toMatchObject({ result: 'FAIL', restrictive: [{ package: 'mixed@1.0.0', licence: 'MIT AND GPL-3.0-only' }], unknown: [{ package: 'opt-native@1.0.0' }], unlisted: [] });
    expect(json.sbom.sha256).toBe(sha256Hex((await sbomCheck(checkEnv(ritual))).files['sbom_v1.4.0.json']!));
  });

  it('blind-sbom-provenance needs all three: SBOM, a key, clean licences', async () => {
    const clean: RitualPlan = { ...ritual, licences: { ...ritual.licences, allow: [...ritual.licences.allow, 'GPL-3.0-only'], deny: [] } };
    const noKey = await withSigningKey(undefined, () => blindSbomProvenance(checkEnv(clean)));
    expect(noKey.status).toBe('fail');
    expect(noKey.summary).toMatch(/SBOM: 7 components, schema-valid; provenance cannot be recorded: no signing key configured/);
    // opt-native's non-SPDX licence still needs a clarification.
    const withKey = await withSigningKey(key.privateFile, () => blindSbomProvenance(checkEnv(clean)));
    expect(withKey.summary).toMatch(/provenance signs and verifies with sha256:[0-9a-f]{64}; licences: 1 of 7 components not allowed: 1 unknown/);
    const clarified: RitualPlan = { ...clean, licences: { ...clean.licences, clarifications: [...clarifications, { package: 'opt-native@1.0.0', licence: 'MIT', reason: 'read it' }] } };
    expect((await withSigningKey(key.privateFile, () => blindSbomProvenance(checkEnv(clarified)))).status).toBe('pass');
  });

  it('fails every ritual check plainly when the plan has no ritual section', async () => {
    for (const check of [sbomCheck, rtSbomLicenceDrift, rtSbomAttached, blindSbomProvenance]) {
      expect(await check(checkEnv(undefined))).toEqual({ status: 'fail', summary: expect.stringMatching(/^the plan has no ritual section/), files: {} });
    }
  });

  it('fails the licence checks with the plan field when the policy cannot be applied', async () => {
    const broken: RitualPlan = { ...ritual, licences: { ...ritual.licences, allow: ['MIT-ish'] } };
    for (const check of [rtSbomLicenceDrift, blindSbomProvenance]) {
      const report = await withSigningKey(key.privateFile, () => check(checkEnv(broken)));
      expect(report).toEqual({ status: 'fail', summary: expect.stringMatching(/^the plan's licence policy cannot be applied: ritual\.licences\.allow\[0\]: "MIT-ish" is not an SPDX/), files: {} });
    }
  });

  it('blind-spot-scan summarises the blind-spot results and passes only when all pass', async () => {
    const result = (id: string, status: CheckResult['status'], summary: string): CheckResult => ({ id, phase: 'blindSpots', status, summary, files: [], durationMs: 4 });
    const report = await blindSpotScan(checkEnv(ritual, { blindSpots: [result('blind-decimal', 'pass', 'banker\'s rounding ok'), result('blind-feature-flags', 'not-implemented', 'not implemented')] }));
    expect(report.status).toBe('fail');
    expect(report.summary).toBe('1 of 2 blind spots not passing: blind-feature-flags (not-implemented)');
    expect(report.files['blind_spots_scan_v1.4.0.txt']).toMatch(/^blind-spot scan of release-spark-trading-v1\.4\.0 \(run run-1\): 1\/2 pass\n\nPASS +blind-decimal +Decimal banker's rounding and tick alignment: banker's rounding ok\n/);
    expect((await blindSpotScan(checkEnv(ritual, { blindSpots: [result('blind-decimal', 'pass', 'ok')] }))).status).toBe('pass');
    expect((await blindSpotScan(checkEnv(ritual))).summary).toMatch(/^no blind-spot results reached the scan/);
  });
});

describe('the signed GO/NO-GO record', () => {
  const gate: GateState = {
    id: 'go', state: 'go', openedAt: '2026-11-21T10:28:00.000Z', closedAt: '2026-11-21T10:29:30.000Z', approvers: ['bora', 'cem', 'elif'], quorum: 1,
    checklist: [
      { item: 'Preflight: every check passes', ok: true, detail: '10/10 pass' },
      { item: 'SBOM and build provenance recorded', ok: false, detail: 'build-provenance: fail' },
    ],
    decisions: [
      { kind: 'gate', gate: 'go', decision: 'go', override: true, by: 'bora', reason: 'provenance key rotates tomorrow; IC accepts', at: '2026-11-21T10:29:30.000Z', release: 'release-spark-trading-v1.4.0', runId: 'run-1', accepted: true },
    ],
  };
  const input = { release: 'release-spark-trading-v1.4.0', runId: 'run-1', service: 'spark-trading', version: 'v1.4.0', initiator: 'deniz', gate };
  const key = ed25519('gate');

  it('records the checklist, the decision and the override, and verifies with the public key', () => {
    const payload = goNoGoPayload(input);
    expect(payload).toMatchObject({ checklist: { passed: 1, total: 2 }, overridden: true, decisions: [{ decision: 'go', by: 'bora', override: true }] });
    const envelope = signEnvelope(GO_NOGO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(payload)), key.privateKey);
    const text = goNoGoText(payload, { keyid: keyIdOf(key.privateKey), envelopeJson: JSON.stringify(envelope) });
    expect(text).toContain('  [ ] SBOM and build provenance recorded: build-provenance: fail\n');
    const file = write('gate/go_nogo_signed_v1.4.0.txt', `2026-11-21T10:29:30.000Z GO by bora (override of an incomplete checklist) ...\n${text}`);
    expect(verifySignedFile(file, key.publicFile)).toEqual([
      `OK: go_nogo_signed_v1.4.0.txt: signature by ${keyIdOf(key.publicKey)} verifies (${GO_NOGO_PAYLOAD_TYPE})`,
      'GO/NO-GO of spark-trading v1.4.0 (release-spark-trading-v1.4.0, run run-1): gate go GO, checklist 1/2',
      'decision: GO by bora over an incomplete checklist: provenance key rotates tomorrow; IC accepts',
    ]);
  });

  it('rejects a record whose decision was edited after signing, and says when it was never signed', () => {
    const payload = goNoGoPayload(input);
    const envelope = signEnvelope(GO_NOGO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(payload)), key.privateKey);
    const forged = { ...envelope, payload: Buffer.from(JSON.stringify({ ...payload, overridden: false })).toString('base64') };
    const file = write('gate/forged.txt', goNoGoText(payload, { keyid: 'k', envelopeJson: JSON.stringify(forged) }));
    expect(() => verifySignedFile(file, key.publicFile)).toThrow(/no signature verifies/);
    const unsigned = write('gate/unsigned.txt', goNoGoText(payload, { problem: 'no signing key configured' }));
    expect(fs.readFileSync(unsigned, 'utf8')).toContain('NOT SIGNED: no signing key configured');
    expect(() => verifySignedFile(unsigned, key.publicFile)).toThrow(/no DSSE envelope in it/);
  });

  it('is not overridden when the checklist was complete', () => {
    const complete = { ...gate, checklist: gate.checklist.map((i) => ({ ...i, ok: true })) };
    expect(goNoGoPayload({ ...input, gate: complete }).overridden).toBe(false);
  });
});
