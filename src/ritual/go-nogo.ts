// The signed GO/NO-GO record (spec section 5): once the gate has closed, the
// checklist and every decision are sealed in a DSSE envelope and appended to
// go_nogo_signed_<v>.txt below the decision lines, so a person reads the record
// and `spark-release provenance verify` checks it.
import type { GateState } from '../workflows/messages';

export const GO_NOGO_PAYLOAD_TYPE = 'application/vnd.spark-release.go-nogo.v1+json';

export interface GoNoGoInput {
  release: string;
  runId: string;
  service: string;
  version: string;
  commit?: string;
  initiator: string;
  gate: GateState;
  /** What the workflow says of the ledger anchor taken over the decision (src/workflows/anchor.ts). */
  anchor?: string;
}

export interface GoNoGoPayload {
  release: string;
  runId: string;
  service: string;
  version: string;
  commit?: string;
  initiator: string;
  gate: { id: string; outcome: GateState['state']; openedAt?: string; closedAt?: string; approvers: string[]; quorum: number };
  checklist: { passed: number; total: number; items: { item: string; ok: boolean; detail: string }[] };
  decisions: { kind: string; decision?: string; by: string; reason: string; at: string; override: boolean }[];
  /** A GO given while the checklist was below 10/10. */
  overridden: boolean;
  /** The ledger anchor over the decision lines, as the workflow published it. */
  anchor?: string;
}

export function goNoGoPayload(input: GoNoGoInput): GoNoGoPayload {
  const { gate } = input;
  const passed = gate.checklist.filter((i) => i.ok).length;
  const decisions = gate.decisions.filter((d) => d.accepted).map((d) => ({
    kind: d.kind, ...(d.decision ? { decision: d.decision } : {}), by: d.by, reason: d.reason, at: d.at, override: d.override === true,
  }));
  return {
    release: input.release,
    runId: input.runId,
    service: input.service,
    version: input.version,
    ...(input.commit ? { commit: input.commit } : {}),
    initiator: input.initiator,
    gate: {
      id: gate.id, outcome: gate.state,
      ...(gate.openedAt ? { openedAt: gate.openedAt } : {}), ...(gate.closedAt ? { closedAt: gate.closedAt } : {}),
      approvers: gate.approvers, quorum: gate.quorum,
    },
    checklist: { passed, total: gate.checklist.length, items: gate.checklist.map((i) => ({ item: i.item, ok: i.ok, detail: i.detail })) },
    decisions,
    overridden: passed < gate.checklist.length && decisions.some((d) => d.decision === 'go'),
    ...(input.anchor ? { anchor: input.anchor } : {}),
  };
}

/** The human-readable block above the envelope line. */
export function goNoGoText(p: GoNoGoPayload, seal: { keyid: string; envelopeJson: string } | { problem: string }): string {
  const last = p.decisions.at(-1);
  const lines = [
    '',
    `--- GO/NO-GO record of ${p.service} ${p.version} (${p.release}, run ${p.runId}) ---`,
    `gate ${p.gate.id}: ${p.gate.outcome.toUpperCase()}${p.gate.closedAt ? ` at ${p.gate.closedAt}` : ''}; approvers ${p.gate.approvers.join(', ')} (quorum ${p.gate.quorum}); initiator ${p.initiator}`,
    `checklist ${p.checklist.passed}/${p.checklist.total}:`,
    ...p.checklist.items.map((i) => `  [${i.ok ? 'x' : ' '}] ${i.item}: ${i.detail}`),
    `decision: ${last ? `${(last.decision ?? last.kind).toUpperCase()} by ${last.by}${p.overridden ? ' over an incomplete checklist' : ''}: ${last.reason}` : 'none'}`,
    ...(p.anchor ? [p.anchor] : []),
  ];
  if ('problem' in seal) {
    lines.push(`NOT SIGNED: ${seal.problem}`);
  } else {
    lines.push(`signed: DSSE (${GO_NOGO_PAYLOAD_TYPE}), Ed25519 key ${seal.keyid}; check with \`spark-release provenance verify <this file> --key <public key PEM>\``);
    lines.push(seal.envelopeJson);
  }
  return `${lines.join('\n')}\n`;
}
