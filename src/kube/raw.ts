// Raw JSON requests to the API server, authenticated as the kubeconfig says: the
// paged lists the watchers need, as plain objects (no model classes), read item by
// item as they arrive so that a page never exists whole in memory; and every other
// request of `confighash run`, which loads no generated API client.
import type { KubeConfig } from '@kubernetes/client-node';
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { type Dispatcher, request as httpRequest } from 'undici';
import { authenticate } from './client.ts';
import { ListStreamParser } from './list-stream.ts';

/** An API error with its HTTP status and the apiserver's message. */
export class ApiRequestError extends Error {
  override name = 'ApiRequestError';
  readonly status: number;
  /** How many causes its Status lists (a validation error lists one per invalid field). */
  readonly causes: number;

  constructor(status: number, message: string, causes = 0) {
    super(message);
    this.status = status;
    this.causes = causes;
  }
}

/** A path segment the API server could not mean as a name. */
export class InvalidPathError extends Error {
  override name = 'InvalidPathError';
}

/**
 * An API path from a fixed prefix and segments that are each checked and
 * encoded, e.g. `apiPath('/api/v1', 'namespaces', ns, 'secrets', name)`. An
 * empty, `.` or `..` segment is refused: URL parsing drops it (`secrets/.`
 * becomes the collection `secrets/`), which turns the read of one object into
 * a list of every object.
 */
export function apiPath(prefix: string, ...segments: readonly string[]): string {
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new InvalidPathError(`"${segment}" is not a valid name in an API path`);
    }
  }
  return [prefix, ...segments.map(encodeURIComponent)].join('/');
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
  /** Defaults to application/json. */
  accept?: string;
  timeoutMs: number;
  /** Connections of its own, apart from other requests' (see kube/client.ts). */
  pool?: string;
  /** Aborts the request, e.g. when the admission it serves has run out of time. */
  signal?: AbortSignal;
}

export async function requestJson<T>(config: KubeConfig, request: JsonRequest): Promise<T> {
  return JSON.parse(await requestText(config, request)) as T;
}

/** GETs `path` and returns the body as text (a pod's log); throws ApiRequestError on a non-2xx status. */
export function getText(config: KubeConfig, path: string, query: Record<string, string | number | undefined>, timeoutMs: number): Promise<string> {
  return requestText(config, { method: HttpMethod.GET, path, query, timeoutMs, accept: 'application/json, */*' });
}

async function requestText(config: KubeConfig, request: JsonRequest): Promise<string> {
  return send(config, request, async (body) => body.text());
}

/**
 * GETs one page of a list, handing each item to `onItem` as it arrives (see
 * kube/list-stream.ts), and returns the page's metadata.
 */
export async function listPage<T>(
  config: KubeConfig,
  request: Omit<JsonRequest, 'method' | 'body'>,
  onItem: (item: T) => void,
): Promise<ListPage<T>['metadata']> {
  return send(config, { ...request, method: HttpMethod.GET }, async (body) => {
    const parser = new ListStreamParser(onItem);
    for await (const chunk of body) parser.write(chunk as Buffer);
    return (parser.end().metadata ?? { resourceVersion: '' }) as ListPage<T>['metadata'];
  });
}

type ResponseBody = Dispatcher.ResponseData['body'];

/** Sends `request` and reads a 2xx answer's body with `read`; throws ApiRequestError on any other status. */
async function send<R>(config: KubeConfig, request: JsonRequest, read: (body: ResponseBody) => Promise<R>): Promise<R> {
  const url = requestUrl(config, request);
  const context = new RequestContext(url.toString(), request.method);
  await authenticate(config, context, request.pool);
  const abort = abortAfter(request.timeoutMs, request.signal);
  const dispatcher = context.getDispatcher();
  try {
    // undici's request, not fetch: the same connections at a fraction of the CPU per call.
    const response = await httpRequest(url, {
      method: request.method,
      headers: {
        ...context.getHeaders(),
        accept: request.accept ?? 'application/json',
        ...(request.body === undefined ? {} : { 'content-type': request.contentType ?? 'application/json' }),
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      ...(dispatcher ? { dispatcher } : {}),
      signal: abort.signal,
    });
    if (response.statusCode < 200 || response.statusCode > 299) {
      const status = parseStatus(await response.body.text());
      throw new ApiRequestError(response.statusCode, `${request.method} ${url.pathname}: HTTP ${response.statusCode}: ${status.message}`, status.causes);
    }
    return await read(response.body);
  } finally {
    abort.done();
  }
}

/**
 * A signal that aborts after `timeoutMs`, or when `signal` does; done() releases
 * both. Not AbortSignal.timeout(): its timer outlives the request, and at
 * hundreds of requests a second the expired timers cost more CPU than the requests.
 */
function abortAfter(timeoutMs: number, signal: AbortSignal | undefined): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new DOMException(`no answer within ${timeoutMs}ms`, 'TimeoutError'));
  }, timeoutMs);
  const cancel = (): void => {
    controller.abort(signal?.reason);
  };
  signal?.addEventListener('abort', cancel, { once: true });
  if (signal?.aborted) cancel();
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', cancel);
    },
  };
}

function requestUrl(config: KubeConfig, request: JsonRequest): URL {
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(server + request.path);
  // Defence in depth: a path URL parsing rewrote (dot segments) is not the one asked for.
  if (!url.pathname.endsWith(request.path)) throw new InvalidPathError(`request path ${request.path} would be sent as ${url.pathname}`);
  for (const [key, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  return url;
}

/** A metav1.Status body's message (else the body's start) and how many causes it lists. */
function parseStatus(body: string): { message: string; causes: number } {
  try {
    const status = JSON.parse(body) as { message?: unknown; details?: { causes?: unknown } };
    const causes = Array.isArray(status.details?.causes) ? status.details.causes.length : 0;
    return { message: typeof status.message === 'string' ? status.message : body.slice(0, 200), causes };
  } catch {
    return { message: body.slice(0, 200), causes: 0 };
  }
}
