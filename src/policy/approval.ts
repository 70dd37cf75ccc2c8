// The approval hook (--approval-url): before each config rollout, confighash
// POSTs a description of it (the workload, the sources and keys that changed,
// short digests; never a value) and rolls only on an allow. A deny holds the
// rollout with the hook's reason; a timeout or an error follows
// --approval-failure-policy. The schemas are docs/schemas/approval-*.schema.json.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

export const APPROVAL_API_VERSION = 'confighash.dev/v1';

export interface ApprovalChange {
  /** `configmap/app` */
  source: string;
  /** Short digests (12 hex, or `missing`), as in the sources annotation. */
  from: string | undefined;
  to: string | undefined;
  /** The consumed keys whose values changed, when confighash knows them. */
  keys?: string[];
}

export interface ApprovalRequest {
  apiVersion: typeof APPROVAL_API_VERSION;
  kind: 'RolloutApprovalRequest';
  uid: string;
  workload: { kind: string; namespace: string; name: string; uid: string };
  checksum: { from: string | undefined; to: string };
  changes: ApprovalChange[];
  requestedAt: string;
}

export interface ApprovalDecision {
  allowed: boolean;
  /** Shown in `status` and the Event. */
  reason: string;
  /** When to ask again after a deny. */
  retryAfterMs: number;
}

/** Asks whether a rollout may start; over HTTP in production, faked in tests. */
export interface Approver {
  review(request: Omit<ApprovalRequest, 'apiVersion' | 'kind' | 'uid' | 'requestedAt'>): Promise<ApprovalDecision>;
}

export interface HttpApproverOptions {
  url: string;
  timeoutMs: number;
  /** What a timeout or an error means. */
  failurePolicy: 'allow' | 'defer';
  logger: Logger;
}

/** After a deny without retryAfterSeconds, or a failure deferred, the hook is asked again this soon. */
const DEFAULT_RETRY_MS = 60_000;

export class HttpApprover implements Approver {
  readonly #options: HttpApproverOptions;

  constructor(options: HttpApproverOptions) {
    this.#options = options;
  }

  async review(
    request: Omit<ApprovalRequest, 'apiVersion' | 'kind' | 'uid' | 'requestedAt'>,
  ): Promise<ApprovalDecision> {
    const body: ApprovalRequest = {
      apiVersion: APPROVAL_API_VERSION,
      kind: 'RolloutApprovalRequest',
      uid: randomUUID(),
      ...request,
      requestedAt: new Date().toISOString(),
    };
    try {
      return await this.#ask(body);
    } catch (error) {
      const why =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${this.#options.timeoutMs}ms`
          : (error as Error).message;
      const allowed = this.#options.failurePolicy === 'allow';
      this.#options.logger.warn(
        { hook: origin(this.#options.url), err: why, allowed },
        'the approval hook failed; following --approval-failure-policy',
      );
      return {
        allowed,
        reason: `the approval hook failed (${why}); --approval-failure-policy is ${this.#options.failurePolicy}`,
        retryAfterMs: DEFAULT_RETRY_MS,
      };
    }
  }

  async #ask(body: ApprovalRequest): Promise<ApprovalDecision> {
    const response = await fetch(this.#options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      // The hook answers itself: a redirect could send the request (and its tokens) anywhere.
      redirect: 'manual',
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    });
    const text = await readBounded(response, MAX_ANSWER_BYTES);
    if (response.status >= 300 && response.status < 400)
      throw new Error(`HTTP ${response.status}: a redirect, not followed`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const answer = parseAnswer(text);
    return {
      allowed: answer.allowed,
      reason: answer.reason ?? (answer.allowed ? 'allowed' : 'denied by the approval hook'),
      retryAfterMs: (answer.retryAfterSeconds ?? DEFAULT_RETRY_MS / 1000) * 1000,
    };
  }
}

/** An answer is a small JSON object. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The hook's scheme, host and port: its path and query may hold a token, which is never logged. */
function origin(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : 'the approval hook';
}

/** The body, up to `limit` bytes: a hook cannot make confighash hold an answer of any size. */
async function readBounded(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let length = 0;
  // Leaving the loop early cancels the rest of the body.
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    length += chunk.length;
    if (length > limit) throw new Error(`its answer is longer than ${limit} bytes`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The hook's answer: `{"allowed": bool, "reason"?: string, "retryAfterSeconds"?: number}`; throws when it is not one. */
function parseAnswer(text: string): { allowed: boolean; reason?: string; retryAfterSeconds?: number } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('its answer is not JSON');
  }
  const answer = value as { allowed?: unknown; reason?: unknown; retryAfterSeconds?: unknown } | null;
  if (typeof answer !== 'object' || answer === null || typeof answer.allowed !== 'boolean')
    throw new Error('its answer has no boolean "allowed"');
  const retry =
    typeof answer.retryAfterSeconds === 'number' && answer.retryAfterSeconds > 0 ? answer.retryAfterSeconds : undefined;
  return {
    allowed: answer.allowed,
    ...(typeof answer.reason === 'string' ? { reason: answer.reason.slice(0, 500) } : {}),
    ...(retry ? { retryAfterSeconds: retry } : {}),
  };
}
