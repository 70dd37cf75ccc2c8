// The most a workload's tracking annotations may say (docs/annotations.md):
// every one is written by a tenant, so each has a length beyond which it is
// refused unread — its cost to parse and to evaluate stays bounded whatever is
// written — and the refusal is told (an admission warning, a Warning Event).
// The rollout policies bound their own (src/policy).
import { ANNOTATION } from './annotations.ts';
import { RELOAD_ANNOTATION } from './reload.ts';
import { MAX_PATTERNS_PER_LIST, nameEntry } from './name-pattern.ts';
import { RELOADER_ANNOTATION } from './reloader.ts';

/** A list of ConfigMaps and Secrets: room for the most sources a workload may have (256) with short names. */
export const MAX_LIST_ANNOTATION_LENGTH = 8192;

/** Per annotation, its longest accepted value. */
export const ANNOTATION_LIMITS: Readonly<Record<string, number>> = {
  [ANNOTATION.include]: MAX_LIST_ANNOTATION_LENGTH,
  [ANNOTATION.exclude]: MAX_LIST_ANNOTATION_LENGTH,
  [RELOAD_ANNOTATION.trigger]: 256,
  // A container's name is a DNS label.
  [RELOAD_ANNOTATION.container]: 63,
  [RELOAD_ANNOTATION.fallback]: 16,
  [RELOADER_ANNOTATION.auto]: 16,
  [RELOADER_ANNOTATION.configMapAuto]: 16,
  [RELOADER_ANNOTATION.secretAuto]: 16,
  [RELOADER_ANNOTATION.search]: 16,
  [RELOADER_ANNOTATION.configMapReload]: MAX_LIST_ANNOTATION_LENGTH,
  [RELOADER_ANNOTATION.secretReload]: MAX_LIST_ANNOTATION_LENGTH,
  [RELOADER_ANNOTATION.configMapsExclude]: MAX_LIST_ANNOTATION_LENGTH,
  [RELOADER_ANNOTATION.secretsExclude]: MAX_LIST_ANNOTATION_LENGTH,
};

/** The annotations but those over their limit, and a sentence for each one refused. */
export function boundedAnnotations(annotations: Readonly<Record<string, string>>): {
  kept: Readonly<Record<string, string>>;
  refused: string[];
} {
  const refused: string[] = [];
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(annotations)) {
    const limit = ANNOTATION_LIMITS[key];
    if (limit !== undefined && value.length > limit)
      refused.push(`${key} is ${value.length} characters, more than its ${limit}: ignored`);
    else if (RELOAD_LISTS.includes(key)) kept[key] = boundedReloadList(key, value, refused);
    else kept[key] = value;
  }
  return { kept, refused };
}

/** Reloader's reload lists, whose entries may be name patterns (name-pattern.ts). */
const RELOAD_LISTS: readonly string[] = [RELOADER_ANNOTATION.configMapReload, RELOADER_ANNOTATION.secretReload];

/** The list's entries but the patterns that cannot be matched, or are more than a list may hold; each told in `refused`. */
function boundedReloadList(key: string, value: string, refused: string[]): string {
  let patterns = 0;
  const kept = value.split(',').filter((text) => {
    const entry = nameEntry(text.trim());
    if ('error' in entry) refused.push(`${key}: ${entry.error}: ignored`);
    else if (entry.kind === 'pattern' && ++patterns > MAX_PATTERNS_PER_LIST)
      refused.push(`${key}: more than ${MAX_PATTERNS_PER_LIST} patterns: "${text.trim()}" ignored`);
    else return true;
    return false;
  });
  return kept.join(',');
}
