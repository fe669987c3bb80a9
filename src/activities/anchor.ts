// Taking a ledger anchor (src/evidence/anchor.ts) on the worker, which holds the
// release signing key (SPARK_SIGNING_KEY): verify the chain, check it against the
// anchors already taken, sign its head, and add the anchor to the release's
// ledger_anchors.jsonl. Without a key nothing is signed and the release goes on,
// as with the GO/NO-GO record; the result says why.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { verifyChain } from '../adapters/ledger/chain';
import type { EvidenceLedger } from '../adapters/ledger/ledger';
import { ANCHORS_FILE, readIfExists, writeAtomically } from '../adapters/ledger/mirror';
import { anchorLine, anchorsIn, checkAnchors, hashesDigest, signAnchor } from '../evidence/anchor';
import { loadSigningKey, SigningKeyError, type SigningKey } from '../ritual/dsse';

export interface AnchorRequest {
  release: string;
  runId: string;
  /** Where it is taken: the gate (`go`), `close-out`, `end`. One anchor per name and run. */
  name: string;
  /** The workflow's clock. */
  at: string;
}

export type AnchorResult =
  | { taken: true; name: string; seq: number; chainHash: string; keyid: string; line: string }
  | { taken: false; name: string; problem: string };

export interface AnchorActivities {
  anchorLedger(req: AnchorRequest): Promise<AnchorResult>;
}

export function createAnchorActivities(deps: { ledger: EvidenceLedger; evidenceDir?: string }): AnchorActivities {
  return {
    async anchorLedger(req) {
      const notTaken = (problem: string): AnchorResult => ({ taken: false, name: req.name, problem });
      if (!deps.evidenceDir) return notTaken('this worker has no evidence directory to publish anchors in');
      let key: SigningKey;
      try {
        key = loadSigningKey();
      } catch (err) {
        if (!(err instanceof SigningKeyError)) throw err;
        return notTaken(err.message);
      }
      const file = path.join(deps.evidenceDir, req.release, ANCHORS_FILE);
      const text = (await readIfExists(file)) ?? '';
      const earlier = anchorsIn(text, ANCHORS_FILE);
      if (earlier.problems.length > 0) return notTaken(`${file} cannot be read: ${earlier.problems.join('; ')}`);
      // A retry finds what its first attempt wrote.
      const same = earlier.found.find(({ anchor: a }) => a.release === req.release && a.runId === req.runId && a.name === req.name);
      if (same) {
        const a = same.anchor;
        return { taken: true, name: a.name, seq: a.seq, chainHash: a.chainHash, keyid: a.keyid, line: anchorLine(a) };
      }
      const records = await deps.ledger.list(req.release);
      if (records.length === 0) return notTaken(`the ledger holds no records of ${req.release}`);
      const chain = verifyChain(req.release, records);
      if (!chain.ok) {
        const b = chain.firstBroken!;
        return notTaken(`the chain is broken at seq ${b.seq} (${b.key}): ${b.problem}: ${b.detail}; nothing was anchored`);
      }
      // Never sign a chain that contradicts an earlier anchor: that would attest the rewrite.
      const against = checkAnchors(req.release, records, earlier.found, key.publicKey);
      if (against.problems.length > 0) return notTaken(`the ledger no longer matches the anchors taken before: ${against.problems.join('; ')}; nothing was anchored`);
      const hashes = records.map((r) => r.chainHash);
      const head = records.at(-1)!;
      const signed = signAnchor({
        release: req.release, runId: req.runId, name: req.name, seq: head.seq, chainHash: head.chainHash, hashesSha256: hashesDigest(hashes), at: req.at,
      }, key.privateKey);
      // Whole-file replace through a rename: a crash never leaves half a line.
      await mkdir(path.dirname(file), { recursive: true });
      const kept = text === '' || text.endsWith('\n') ? text : `${text}\n`;
      await writeAtomically(file, `${kept}${anchorLine({ ...signed, hashes }, true)}\n`);
      return { taken: true, name: req.name, seq: head.seq, chainHash: head.chainHash, keyid: signed.keyid, line: anchorLine(signed) };
    },
  };
}
