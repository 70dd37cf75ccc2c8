// Names in Reloader's reload lists may be regular expressions, matched against the
// whole name ("app-.*" names every ConfigMap starting with "app-"). A tenant
// writes them, so only what can be matched in time linear in the name is taken:
// characters, `.`, classes (`[a-z]`, `[^.]`), each optionally followed by `*`, `+`
// or `?` — no groups, alternation or counted repetition, which are refused with
// a sentence saying so. Matching simulates the pattern's automaton (never
// backtracks): at most the pattern's length times the name's length steps.

/** The longest pattern taken, and how many one list may hold: what bounds the cost of matching. */
export const MAX_PATTERN_LENGTH = 64;
export const MAX_PATTERNS_PER_LIST = 4;

/** What an entry of a reload list is: an object's name, or a pattern of names. */
export type NameEntry = { kind: 'name'; name: string } | { kind: 'pattern'; matches: (name: string) => boolean };

interface Token {
  test: (char: string) => boolean;
  optional: boolean;
  repeats: boolean;
}

const NAME_CHARACTERS = /^[a-z0-9.-]+$/;

/** The entry `text`, or why it cannot be matched. */
export function nameEntry(text: string): NameEntry | { error: string } {
  if (NAME_CHARACTERS.test(text)) return { kind: 'name', name: text };
  if (text.length > MAX_PATTERN_LENGTH)
    return { error: `"${text.slice(0, 20)}…" is longer than the ${MAX_PATTERN_LENGTH} characters a pattern may have` };
  const tokens = tokenize(text.replace(/^\^/, '').replace(/\$$/, ''));
  if ('error' in tokens) return { error: `"${text}" ${tokens.error}` };
  return { kind: 'pattern', matches: (name) => accepts(tokens, name) };
}

function tokenize(pattern: string): Token[] | { error: string } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const atom = readAtom(pattern, i);
    if ('error' in atom) return atom;
    const quantifier = pattern[atom.end];
    const quantified = quantifier === '*' || quantifier === '+' || quantifier === '?';
    tokens.push({
      test: atom.test,
      optional: quantifier === '*' || quantifier === '?',
      repeats: quantifier === '*' || quantifier === '+',
    });
    i = atom.end + (quantified ? 1 : 0);
  }
  return tokens;
}

const UNSUPPORTED = 'uses what a name pattern does not support here (groups, alternation, counted repetition)';

function readAtom(pattern: string, at: number): { test: (char: string) => boolean; end: number } | { error: string } {
  const char = pattern[at] ?? '';
  if (char === '.') return { test: () => true, end: at + 1 };
  if (char === '\\') {
    const escaped = pattern[at + 1];
    if (escaped === undefined || /[a-zA-Z0-9]/.test(escaped)) return { error: UNSUPPORTED };
    return { test: (c) => c === escaped, end: at + 2 };
  }
  if (char === '[') return readClass(pattern, at);
  if ('()|{}*+?^$]'.includes(char)) return { error: UNSUPPORTED };
  return { test: (c) => c === char, end: at + 1 };
}

/** `[abc]`, `[a-z0-9]`, `[^.]`. */
function readClass(pattern: string, at: number): { test: (char: string) => boolean; end: number } | { error: string } {
  const close = pattern.indexOf(']', at + 1);
  if (close === -1) return { error: 'has a [ without its ]' };
  const negated = pattern[at + 1] === '^';
  const body = pattern.slice(at + (negated ? 2 : 1), close);
  if (body === '' || body.includes('[') || body.includes('\\')) return { error: UNSUPPORTED };
  const ranges = classRanges(body);
  const inClass = (c: string): boolean => ranges.some(([from, to]) => c >= from && c <= to);
  return { test: (c) => inClass(c) !== negated, end: close + 1 };
}

/** `a-z0-9_` → [a, z], [0, 9], [_, _]. */
function classRanges(body: string): [string, string][] {
  const ranges: [string, string][] = [];
  for (let i = 0; i < body.length; i++) {
    const from = body.charAt(i);
    const isRange = body[i + 1] === '-' && i + 2 < body.length;
    ranges.push([from, isRange ? body.charAt(i + 2) : from]);
    if (isRange) i += 2;
  }
  return ranges;
}

/**
 * Whether `tokens` match the whole of `name`: the tokens reachable so far, one
 * character at a time (state i: the first i tokens are matched).
 */
function accepts(tokens: readonly Token[], name: string): boolean {
  let states = new Uint8Array(tokens.length + 1);
  states[0] = 1;
  skipOptional(tokens, states);
  for (const char of name) {
    const next = new Uint8Array(tokens.length + 1);
    let any = false;
    for (let state = 0; state < tokens.length; state++) {
      const token = tokens[state];
      if (!states[state] || !token?.test(char)) continue;
      next[state + 1] = 1;
      if (token.repeats) next[state] = 1;
      any = true;
    }
    if (!any) return false;
    skipOptional(tokens, next);
    states = next;
  }
  return states[tokens.length] === 1;
}

/** Adds to `states` every state reached by skipping optional tokens. */
function skipOptional(tokens: readonly Token[], states: Uint8Array): void {
  for (let state = 0; state < tokens.length; state++) {
    if (states[state] && tokens[state]?.optional) states[state + 1] = 1;
  }
}
