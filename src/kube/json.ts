// JSON from the API server, parsed without echoing it: V8's SyntaxError quotes
// the text around the fault, and that text may be a Secret's value.

/** JSON.parse(text), failing with a SyntaxError that names `what` and quotes nothing. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SyntaxError(`${what} is not valid JSON (${text.length} characters)`);
  }
}
