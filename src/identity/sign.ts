// Signing a decision with a person's own Ed25519 key (a PEM private key file), and
// the raw public key the people registry holds. Client side: node:crypto.
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { decisionMessage, type DecisionFields } from './decision';

function privateKey(pem: string | KeyObject): KeyObject {
  const key = typeof pem === 'string' ? createPrivateKey(pem) : pem;
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`signing key: must be an Ed25519 key, not ${key.asymmetricKeyType}`);
  return key;
}

/** The signature (128 hex digits) over exactly what the workflow verifies. */
export function signDecision(fields: DecisionFields, key: string | KeyObject): string {
  return sign(null, decisionMessage(fields), privateKey(key)).toString('hex');
}

/** The 32-byte public key (64 hex digits) of a private or public key, as the registry lists it. */
export function publicKeyHex(key: string | KeyObject): string {
  const pub = createPublicKey(key as never);
  return pub.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
}
