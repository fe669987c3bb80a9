// DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1)
// signed with Ed25519, and the signing key the worker is configured with.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import fs from 'node:fs';

export interface DsseSignature {
  keyid?: string;
  sig: string;
}

export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: DsseSignature[];
}

/** The envelope cannot be trusted or read; the message says why. */
export class DsseError extends Error {
  override name = 'DsseError';
}

/** A signing or verification key that is missing or unusable; the message says what to do. */
export class SigningKeyError extends Error {
  override name = 'SigningKeyError';
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes. */
export function pae(payloadType: string, body: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

/** The key's id in envelopes: sha256 of its public key (SPKI DER), an unauthenticated hint only. */
export function keyIdOf(key: KeyObject): string {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

function requireEd25519(key: KeyObject, source: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SigningKeyError(`${source}: an ${key.asymmetricKeyType ?? 'unknown'} key; the ritual signs and verifies with Ed25519 only`);
  }
  return key;
}

export function signEnvelope(payloadType: string, body: Buffer, privateKey: KeyObject): DsseEnvelope {
  requireEd25519(privateKey, 'signing key');
  return {
    payloadType,
    payload: body.toString('base64'),
    signatures: [{ keyid: keyIdOf(privateKey), sig: sign(null, pae(payloadType, body), privateKey).toString('base64') }],
  };
}

// Standard or URL-safe alphabet, padded or not: verifiers must accept either (protocol.md).
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeBase64(text: unknown, field: string): Buffer {
  if (typeof text !== 'string') throw new DsseError(`${field}: must be a base64 string`);
  if (!BASE64.test(text)) throw new DsseError(`${field}: not base64`);
  return Buffer.from(text, 'base64');
}

/** Checks an envelope's shape, naming the field that is wrong. */
export function parseEnvelope(input: unknown): DsseEnvelope {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new DsseError('envelope: must be a JSON object');
  const e = input as Record<string, unknown>;
  if (typeof e.payloadType !== 'string') throw new DsseError('payloadType: must be a string');
  decodeBase64(e.payload, 'payload');
  if (!Array.isArray(e.signatures) || e.signatures.length === 0) throw new DsseError('signatures: must be a non-empty list');
  e.signatures.forEach((s: unknown, i) => {
    if (typeof s !== 'object' || s === null) throw new DsseError(`signatures[${i}]: must be an object`);
    decodeBase64((s as Record<string, unknown>).sig, `signatures[${i}].sig`);
    const keyid = (s as Record<string, unknown>).keyid;
    if (keyid !== undefined && typeof keyid !== 'string') throw new DsseError(`signatures[${i}].keyid: must be a string`);
  });
  return e as unknown as DsseEnvelope;
}

export interface VerifiedEnvelope {
  payloadType: string;
  body: Buffer;
  /** The keyid hint of the signature that verified, when it carried one. */
  keyid?: string;
}

/** Accepts when a signature verifies over PAE(payloadType, payload) with `publicKey` and the type is one of `acceptedTypes`. */
export function verifyEnvelope(input: unknown, publicKey: KeyObject, acceptedTypes: string[]): VerifiedEnvelope {
  const envelope = parseEnvelope(input);
  requireEd25519(publicKey, 'verification key');
  const body = decodeBase64(envelope.payload, 'payload');
  const message = pae(envelope.payloadType, body);
  const good = envelope.signatures.find((s) => verify(null, message, publicKey, decodeBase64(s.sig, 'sig')));
  if (!good) {
    throw new DsseError(
      `no signature verifies with key ${keyIdOf(publicKey)} (signed by ${envelope.signatures.map((s) => s.keyid ?? 'an unnamed key').join(', ')}): ` +
        'the payload or its type was changed after signing, or this is not the signer\'s public key',
    );
  }
  if (!acceptedTypes.includes(envelope.payloadType)) {
    throw new DsseError(`payloadType: "${envelope.payloadType}" is not one of ${acceptedTypes.join(', ')}`);
  }
  return { payloadType: envelope.payloadType, body, ...(good.keyid ? { keyid: good.keyid } : {}) };
}

export const SIGNING_KEY_ENV = 'SPARK_SIGNING_KEY';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyid: string;
  file: string;
}

/** The worker's Ed25519 key: $SPARK_SIGNING_KEY names a PEM private key file. Never invents one. */
export function loadSigningKey(env: NodeJS.ProcessEnv = process.env): SigningKey {
  const file = env[SIGNING_KEY_ENV];
  if (!file) {
    throw new SigningKeyError(
      `no signing key configured: set ${SIGNING_KEY_ENV} to an Ed25519 private key (PEM) on the worker, ` +
        'e.g. `openssl genpkey -algorithm ed25519 -out signing.pem`, and give verifiers its public half ' +
        '(`openssl pkey -in signing.pem -pubout -out signing.pub.pem`)',
    );
  }
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SigningKeyError(`${SIGNING_KEY_ENV}=${file}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new SigningKeyError(`${SIGNING_KEY_ENV}=${file}: not a PEM private key (${(err as Error).message})`);
  }
  requireEd25519(privateKey, `${SIGNING_KEY_ENV}=${file}`);
  return { privateKey, publicKey: createPublicKey(privateKey), keyid: keyIdOf(privateKey), file };
}

/** A verifier's public key from a PEM file (a private key file works too: its public half is used). */
export function loadPublicKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SigningKeyError(`--key ${file}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new SigningKeyError(`--key ${file}: not a PEM public key (${(err as Error).message})`);
  }
  return requireEd25519(key, `--key ${file}`);
}
