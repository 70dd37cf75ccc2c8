// Raw JSON requests to the API server, authenticated as the kubeconfig says: the
// paged lists the watchers need, as plain objects (no model classes), so that a
// page can be reduced to what confighash keeps and dropped; and writes whose
// fields the generated client would reformat (a Lease's MicroTime).
import { type KubeConfig, RequestContext, HttpMethod } from '@kubernetes/client-node';
import { request as httpRequest } from 'undici';

/** An API error with its HTTP status and the apiserver's message. */
export class ApiRequestError extends Error {
  override name = 'ApiRequestError';
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface ListPage<T> {
  items: T[];
  metadata: { resourceVersion: string; continue?: string };
}

/** GETs `path` with `query` and returns the parsed JSON body; throws ApiRequestError on a non-2xx status. */
export function getJson<T>(
  config: KubeConfig,
  path: string,
  query: Record<string, string | number | undefined>,
  timeoutMs: number,
): Promise<T> {
  return requestJson(config, { method: HttpMethod.GET, path, query, timeoutMs });
}

export interface JsonRequest {
  method: HttpMethod;
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Defaults to application/json. */
  contentType?: string;
  timeoutMs: number;
}

export async function requestJson<T>(config: KubeConfig, request: JsonRequest): Promise<T> {
  const url = requestUrl(config, request);
  const context = new RequestContext(url.toString(), request.method);
  await config.applySecurityAuthentication(context);
  // Not AbortSignal.timeout(): its timer outlives the request, and at hundreds of
  // requests a second the expired timers cost more CPU than the requests.
  const timeout = new AbortController();
  const timer = setTimeout(() => {
    timeout.abort(new DOMException(`no answer within ${request.timeoutMs}ms`, 'TimeoutError'));
  }, request.timeoutMs);
  const dispatcher = context.getDispatcher();
  try {
    // undici's request, not fetch: the same connections at a fraction of the CPU per call.
    const response = await httpRequest(url, {
      method: request.method,
      headers: {
        ...context.getHeaders(),
        accept: 'application/json',
        ...(request.body === undefined ? {} : { 'content-type': request.contentType ?? 'application/json' }),
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      ...(dispatcher ? { dispatcher } : {}),
      signal: timeout.signal,
    });
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw new ApiRequestError(response.statusCode, `${request.method} ${url.pathname}: HTTP ${response.statusCode}: ${statusMessage(text)}`);
    }
    return JSON.parse(text) as T;
  } finally {
    clearTimeout(timer);
  }
}

function requestUrl(config: KubeConfig, request: JsonRequest): URL {
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(server + request.path);
  for (const [key, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  return url;
}

function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    return typeof status.message === 'string' ? status.message : body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}
