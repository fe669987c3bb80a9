// First writer wins for retried activities. A worker that dies after an
// activity wrote its evidence but before it reported completion gets the
// activity retried; the retry measures again (new timestamps, new values) under
// the same deterministic keys, and the ledger refuses to rewrite a key. Without
// this the retry fails every attempt: the release stalls or fails with traffic
// still on the canary, and a rollback retries forever. The first attempt's
// records are what happened first, so they stand and the retry's are dropped.
// On a first attempt a conflicting key is still refused: that is a bug.
import { Context } from '@temporalio/activity';
import type { EvidenceInput, EvidenceLedger, EvidenceRecord } from '../adapters/ledger/ledger';

/** True inside an activity that is not on its first attempt. */
function retrying(): boolean {
  try {
    return Context.current().info.attempt > 1;
  } catch {
    return false; // not inside an activity (CLI, tests): no retry to tolerate
  }
}

export function firstWriterWinsOnRetry(ledger: EvidenceLedger): EvidenceLedger {
  const appendMany = async (inputs: EvidenceInput[]): Promise<EvidenceRecord[]> => {
    const release = inputs[0]?.release;
    if (!retrying() || release === undefined) return ledger.appendMany(inputs);
    const recorded = new Map((await ledger.list(release)).map((r) => [r.key, r]));
    const written = await ledger.appendMany(inputs.filter((i) => i.release !== release || !recorded.has(i.key)));
    return inputs.map((i) => (i.release === release ? recorded.get(i.key) : undefined) ?? written.shift()!);
  };
  return {
    appendMany,
    append: async (input) => (await appendMany([input]))[0]!,
    list: (release) => ledger.list(release),
    verify: (release) => ledger.verify(release),
    close: () => ledger.close(),
  };
}
