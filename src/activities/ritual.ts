// The signed GO/NO-GO record: once the gate has closed, the checklist and the
// decisions are signed with the worker's Ed25519 key (SPARK_SIGNING_KEY) and
// appended to go_nogo_signed_<v>.txt. Without a key the record is written and
// marked NOT SIGNED: a key is never invented, and the release is not held up.
import type { EvidenceLedger } from '../adapters/ledger/ledger';
import { loadSigningKey, signEnvelope, SigningKeyError } from '../ritual/dsse';
import { GO_NOGO_PAYLOAD_TYPE, goNoGoPayload, goNoGoText, type GoNoGoInput } from '../ritual/go-nogo';

export type SealGoNoGoRequest = GoNoGoInput;

export interface SealGoNoGoResult {
  signed: boolean;
  file: string;
  keyid?: string;
  problem?: string;
}

export interface RitualActivities {
  sealGoNoGo(req: SealGoNoGoRequest): Promise<SealGoNoGoResult>;
}

export function createRitualActivities(deps: { ledger: EvidenceLedger }): RitualActivities {
  return {
    async sealGoNoGo(req) {
      const payload = goNoGoPayload(req);
      const file = `go_nogo_signed_${req.version}.txt`;
      let body: string;
      let result: SealGoNoGoResult;
      try {
        const key = loadSigningKey();
        // Ed25519 is deterministic: a retried activity records the same bytes under the same key.
        const envelope = signEnvelope(GO_NOGO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(payload), 'utf8'), key.privateKey);
        body = goNoGoText(payload, { keyid: key.keyid, envelopeJson: JSON.stringify(envelope) });
        result = { signed: true, file, keyid: key.keyid };
      } catch (err) {
        if (!(err instanceof SigningKeyError)) throw err;
        body = goNoGoText(payload, { problem: err.message });
        result = { signed: false, file, problem: err.message };
      }
      await deps.ledger.append({
        release: req.release, runId: req.runId, key: `gate/${req.gate.id}/signed-record`, file, kind: 'gate', mode: 'append', body,
      });
      return result;
    },
  };
}
