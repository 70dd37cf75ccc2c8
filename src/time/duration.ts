// Durations as Kubernetes users write them: `500ms`, `30s`, `5m`, `1h30m`, `8760h`.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** No duration is longer; a longer text is refused before the pattern scans it (quadratic in a run of digits). */
const MAX_LENGTH = 64;

/** Milliseconds in `text`; throws with an example of the expected form. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (text.length > MAX_LENGTH)
    throw new Error(
      `invalid duration (${text.length} characters): use a number and a unit (ms, s, m, h), e.g. 500ms, 30s, 1h30m`,
    );
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const consumed = parts.map((p) => p[0]).join('');
  if (parts.length === 0 || consumed !== text) {
    throw new Error(`invalid duration "${text}": use a number and a unit (ms, s, m, h), e.g. 500ms, 30s, 1h30m`);
  }
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * (UNIT_MS[unit ?? ''] ?? 0), 0);
}
