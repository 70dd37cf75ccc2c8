// Label selectors as kubectl and the API server write them (`app=web`,
// `tier!=cache`, `env in (prod,staging)`, `env notin (dev)`, `team`, `!legacy`),
// parsed into the structured form a webhook configuration's namespaceSelector
// takes, and matched against an object's labels the way the API server matches.

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Parses `text`; throws with the requirement that is wrong. An empty selector matches everything. */
export function parseLabelSelector(text: string): LabelSelector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: LabelSelectorRequirement[] = [];
  for (const requirement of splitRequirements(text)) {
    const parsed = parseRequirement(requirement);
    if ('equals' in parsed) matchLabels[parsed.key] = parsed.equals;
    else matchExpressions.push(parsed);
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

/** Whether `labels` satisfy the selector. */
export function matchesLabels(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  if (Object.entries(selector.matchLabels ?? {}).some(([key, value]) => labels[key] !== value)) return false;
  return (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const value = labels[key];
    if (operator === 'Exists') return value !== undefined;
    if (operator === 'DoesNotExist') return value === undefined;
    if (operator === 'In') return value !== undefined && values.includes(value);
    return value === undefined || !values.includes(value);
  });
}

/**
 * The selector as the API server's labelSelector parameter takes it: matchLabels
 * and matchExpressions alike (a selector of matchExpressions alone is not empty).
 */
export function formatLabelSelector(selector: LabelSelectorLike): string {
  const labels = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  const expressions = (selector.matchExpressions ?? []).map(({ key, operator, values }) => {
    if (operator === 'Exists') return key;
    if (operator === 'DoesNotExist') return `!${key}`;
    return `${key} ${operator === 'In' ? 'in' : 'notin'} (${(values ?? []).join(',')})`;
  });
  return [...labels, ...expressions].join(',');
}

/** A selector as objects carry it (the API server validated its operators). */
export interface LabelSelectorLike {
  matchLabels?: Readonly<Record<string, string>> | null | undefined;
  matchExpressions?:
    readonly { key: string; operator: string; values?: readonly string[] | null | undefined }[] | null | undefined;
}

/** Whether the selector, if there is one, selects the object by its labels. */
export function selects(
  selector: LabelSelector | undefined,
  object: { metadata?: { labels?: Readonly<Record<string, string>> | null } | null },
): boolean {
  return !selector || matchesLabels(selector, object.metadata?.labels ?? {});
}

/** `a=b,c in (d,e)` → [`a=b`, `c in (d,e)`]: commas inside parentheses belong to their set. */
function splitRequirements(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseRequirement(text: string): LabelSelectorRequirement | { key: string; equals: string } {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(text);
  if (set) {
    const values = (set[3] ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
    return {
      key: checkedKey(set[1] ?? '', text),
      operator: set[2] === 'in' ? 'In' : 'NotIn',
      values: values.map((v) => checkedValue(v, text)),
    };
  }
  const comparison = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(text);
  if (comparison) {
    const key = checkedKey(comparison[1] ?? '', text);
    const value = checkedValue(comparison[3] ?? '', text);
    return comparison[2] === '!=' ? { key, operator: 'NotIn', values: [value] } : { key, equals: value };
  }
  if (text.startsWith('!')) return { key: checkedKey(text.slice(1).trim(), text), operator: 'DoesNotExist' };
  return { key: checkedKey(text, text), operator: 'Exists' };
}

function checkedKey(key: string, requirement: string): string {
  if (!KEY.test(key)) throw new Error(`"${requirement}": "${key}" is not a label key`);
  return key;
}

function checkedValue(value: string, requirement: string): string {
  if (!VALUE.test(value)) throw new Error(`"${requirement}": "${value}" is not a label value`);
  return value;
}
