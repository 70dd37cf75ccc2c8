// What went wrong in a Kubernetes API call, said plainly: the HTTP status and the
// apiserver's own message, never a response body that could hold object data.
import { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js';
import { ApiRequestError } from './raw.ts';

/** The HTTP status of a failed API call, or undefined when it never got an answer. */
export function apiStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  return error instanceof ApiRequestError ? error.status : undefined;
}

export function isNotFound(error: unknown): boolean {
  return apiStatus(error) === 404;
}

export function isConflict(error: unknown): boolean {
  return apiStatus(error) === 409;
}

/** `what` and why it failed, e.g. `read secret app/db: 403 Forbidden: secrets "db" is forbidden: …`. */
export function describeApiError(what: string, error: unknown): string {
  if (error instanceof ApiException) {
    const status = parseStatus(error.body);
    return `${what}: HTTP ${error.code}${status ? `: ${status}` : ''}`;
  }
  if (error instanceof Error) {
    return `${what}: ${error.name === 'TimeoutError' ? 'timed out' : error.message}`;
  }
  return `${what}: ${String(error)}`;
}

/** The `message` of a metav1.Status body, if the body is one. */
function parseStatus(body: unknown): string | undefined {
  const parsed: unknown = typeof body === 'string' ? safeJson(body) : body;
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { kind, message } = parsed as { kind?: unknown; message?: unknown };
  return kind === 'Status' && typeof message === 'string' ? message : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
