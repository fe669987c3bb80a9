// Reads a release plan from YAML. A plan may `extends:` another plan file and
// override parts of it (objects merge key by key, arrays are replaced), which is
// how the demo reuses the shipped v1.4.0 profile with compressed durations.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parsePlan, PlanError, type ReleasePlan } from './schema';

const MAX_EXTENDS_DEPTH = 5;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergePlanDocs(base: unknown, override: unknown): unknown {
  if (!isObject(base) || !isObject(override)) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = key in base ? mergePlanDocs(base[key], value) : value;
  return out;
}

function readDoc(file: string, depth: number): unknown {
  if (depth > MAX_EXTENDS_DEPTH) throw new PlanError([`extends: more than ${MAX_EXTENDS_DEPTH} levels (a cycle?)`], file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PlanError([`cannot read the plan file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], file);
  }
  const parsed = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (parsed.errors.length > 0) {
    throw new PlanError(parsed.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`), file);
  }
  let doc: unknown;
  try {
    doc = parsed.toJS({ maxAliasCount: 50 });
  } catch (err) {
    // An alias bomb ("Excessive alias count") is refused here, not expanded.
    throw new PlanError([`YAML: ${(err as Error).message}`], file);
  }
  if (!isObject(doc)) throw new PlanError(['(top level): must be a mapping of plan fields'], file);
  const { extends: parent, ...rest } = doc;
  if (parent === undefined) return rest;
  if (typeof parent !== 'string') throw new PlanError(['extends: must be a path to another plan file'], file);
  return mergePlanDocs(readDoc(path.resolve(path.dirname(file), parent), depth + 1), rest);
}

export function loadPlanFile(file: string): ReleasePlan {
  const absolute = path.resolve(file);
  return parsePlan(readDoc(absolute, 0), absolute);
}

/** Like loadPlanFile, then overrides applied on top (e.g. from CLI flags). */
export function loadPlanFileWith(file: string, overrides: Record<string, unknown>): ReleasePlan {
  const absolute = path.resolve(file);
  return parsePlan(mergePlanDocs(readDoc(absolute, 0), overrides), absolute);
}
