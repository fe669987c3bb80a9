// PromQL templates from the release plan: `$name` or `${name}` placeholders
// (e.g. $track, $service, $version, $rate) filled in before a query is sent.
// `$$` is a literal `$`; a `$` not followed by a name or `{` stays as written
// (PromQL regex anchors such as `=~"/api/.*$"`).

export type QueryVars = Readonly<Record<string, string | number>>;

type Piece = { text: string } | { name: string };

const TOKEN = /\$(?:(\$)|\{([^}]*)(\})?|([A-Za-z_][A-Za-z0-9_]*))/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// A value containing one of these could end a quoted label matcher and change the query.
const UNSAFE_VALUE = /["'`\\\n\r]/;

/** Splits a template into literal text and placeholder names; throws on a malformed `${...}`. */
function parse(template: string): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  for (const match of template.matchAll(TOKEN)) {
    const start = match.index ?? 0;
    if (start > last) pieces.push({ text: template.slice(last, start) });
    last = start + match[0].length;
    const [, dollar, braced, closing, bare] = match;
    if (dollar !== undefined) {
      pieces.push({ text: '$' });
    } else if (bare !== undefined) {
      pieces.push({ name: bare });
    } else if (closing === undefined) {
      throw new Error(`unclosed placeholder "\${" at offset ${start} in query template`);
    } else if (braced === undefined || !NAME.test(braced)) {
      throw new Error(`invalid placeholder "\${${braced ?? ''}}" at offset ${start} in query template`);
    } else {
      pieces.push({ name: braced });
    }
  }
  if (last < template.length) pieces.push({ text: template.slice(last) });
  return pieces;
}

function unknownNames(pieces: Piece[], isKnown: (name: string) => boolean): string[] {
  return [...new Set(pieces.flatMap((p) => ('name' in p && !isKnown(p.name) ? [p.name] : [])))];
}

function listed(names: readonly string[]): string {
  return names.map((n) => `$${n}`).join(', ') || 'none';
}

/** Replaces every placeholder with its value; throws naming any placeholder without one. */
export function renderQuery(template: string, vars: QueryVars): string {
  const pieces = parse(template);
  const unknown = unknownNames(pieces, (name) => Object.hasOwn(vars, name));
  if (unknown.length > 0) {
    throw new Error(`unknown query placeholder ${listed(unknown)}; known: ${listed(Object.keys(vars))}`);
  }
  return pieces
    .map((piece) => {
      if ('text' in piece) return piece.text;
      const value = String(vars[piece.name]);
      if (UNSAFE_VALUE.test(value)) {
        throw new Error(`query variable $${piece.name} has a quote, backslash or newline in ${JSON.stringify(value)}`);
      }
      return value;
    })
    .join('');
}

/**
 * Problems with a template for plan validation: malformed placeholders and
 * placeholders outside `allowedVars`. An empty list means the template is usable.
 */
export function validateTemplate(template: string, allowedVars: readonly string[]): string[] {
  if (template.trim() === '') return ['query template is empty'];
  let pieces: Piece[];
  try {
    pieces = parse(template);
  } catch (error) {
    return [(error as Error).message];
  }
  const allowed = new Set(allowedVars);
  return unknownNames(pieces, (name) => allowed.has(name)).map(
    (name) => `unknown query placeholder $${name}; allowed: ${listed(allowedVars)}`,
  );
}
