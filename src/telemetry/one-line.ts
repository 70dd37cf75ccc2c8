// Text from outside (an agent's error, a log line) shown in an Event, a status
// line or a chat message: one line, of bounded length.

/** `text` with its control characters (newlines included) as spaces, cut to `limit` characters. */
export function oneLine(text: string, limit: number): string {
  const line = text.replace(/\p{Cc}+/gu, ' ');
  return line.length > limit ? `${line.slice(0, limit - 1)}…` : line;
}
