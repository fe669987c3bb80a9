// SPDX licence expressions: parsing with a message a person can act on, the
// licences an expression names, and whether an approved list satisfies it.
import parse, { type SpdxNode } from 'spdx-expression-parse';
import satisfies from 'spdx-satisfies';

function tryParse(text: string): SpdxNode | string {
  try {
    return parse(text);
  } catch {
    // The parser's own messages ("Unexpected `S` at offset 0", or a TypeError on "MIT AND") help nobody.
    return `"${text}" is not an SPDX licence expression (such as MIT, Apache-2.0 OR MIT, GPL-2.0-or-later WITH Classpath-exception-2.0)`;
  }
}

/** Why `text` is not an SPDX licence expression, or null when it is one. */
export function expressionProblem(text: string): string | null {
  const parsed = tryParse(text);
  return typeof parsed === 'string' ? parsed : null;
}

/** Why `text` is not one licence (an identifier, optionally with `+` or `WITH` an exception), or null. */
export function singleLicenceProblem(text: string): string | null {
  const parsed = tryParse(text);
  if (typeof parsed === 'string') return parsed;
  return 'conjunction' in parsed ? `"${text}" combines licences with AND/OR; list each licence on its own` : null;
}

function render(node: SpdxNode): string[] {
  if ('conjunction' in node) return [...render(node.left), ...render(node.right)];
  return [`${node.license}${node.plus ? '+' : ''}${node.exception ? ` WITH ${node.exception}` : ''}`];
}

/** Every licence an expression names, in order, e.g. `MIT AND (ISC OR GPL-2.0+)` -> MIT, ISC, GPL-2.0+. */
export function licencesOf(expression: string): string[] {
  const parsed = tryParse(expression);
  if (typeof parsed === 'string') throw new Error(parsed);
  return render(parsed);
}

/** Whether the expression can be complied with using only `approved` licences (single licences, not AND/OR). */
export function satisfiedBy(expression: string, approved: string[]): boolean {
  return approved.length > 0 && satisfies(expression, approved);
}
