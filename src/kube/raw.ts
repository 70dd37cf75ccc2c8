// Raw JSON requests to the API server over node:https, authenticated as the
// kubeconfig says (kube/client.ts): the paged lists the watchers need, as plain
// objects (no model classes), read item by item as they arrive so that a page
// never exists whole in memory; watches, as their events arrive; and every other
// request of `confighash run`, which loads no generated API client.
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { requestOptions } from './client.ts';
import { parseJson } from './json.ts';
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
  return requestJson(config, { method: 'GET', path, query, timeoutMs });
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

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
  return parseJson(await requestText(config, request), `the answer to ${request.method} ${request.path}`) as T;
}

/**
 * GETs `path` and returns the body as text (a pod's log), at most `maxBytes` of
 * it: the rest is not read (the connection is dropped). Throws ApiRequestError
 * on a non-2xx status.
 */
export function getText(
  config: KubeConfig,
  path: string,
  query: Record<string, string | number | undefined>,
  options: { timeoutMs: number; maxBytes: number },
): Promise<string> {
  return send(
    config,
    { method: 'GET', path, query, timeoutMs: options.timeoutMs, accept: 'application/json, */*' },
    (body) => readTextUpTo(body, options.maxBytes),
  );
}

async function requestText(config: KubeConfig, request: JsonRequest): Promise<string> {
  return send(config, request, readText);
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
  return send(config, { ...request, method: 'GET' }, async (body) => {
    const parser = new ListStreamParser(onItem);
    for await (const chunk of body) parser.write(chunk as Buffer);
    return (parser.end().metadata ?? { resourceVersion: '' }) as ListPage<T>['metadata'];
  });
}

/** What a watch tells its caller. */
export interface WatchHandlers {
  /** The server accepted the watch (a 2xx answer): its events follow. */
  onOpen: () => void;
  onEvent: (type: string, object: unknown) => void;
  /** Called once, when the server ends the watch (no argument) or it fails. */
  onDone: (error?: unknown) => void;
}

/**
 * Watches `path` from `query.resourceVersion`, handing each event to `onEvent` as
 * it arrives; a watch with no event or bookmark for `silenceMs` fails with a
 * TimeoutError. Returns a handle that stops the watch.
 */
export function watchEvents(
  config: KubeConfig,
  request: { path: string; query: Record<string, string | number | boolean>; silenceMs: number },
  { onOpen, onEvent, onDone }: WatchHandlers,
): { abort(): void } {
  const stopped = new AbortController();
  const query = { ...request.query, watch: 'true' };
  const readEvents = async (body: IncomingMessage, heardFrom: () => void): Promise<void> => {
    onOpen();
    // One JSON object a line (the API server's watch stream).
    body.setEncoding('utf8');
    let pending = '';
    // A line cut off by the end of the stream is dropped: the next watch starts
    // from the last whole event's resourceVersion, so the server sends it again.
    for await (const chunk of body as AsyncIterable<string>) {
      heardFrom();
      pending += chunk;
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() === '') continue;
        const event = parseJson(line, `an event of the watch of ${request.path}`) as { type: string; object: unknown };
        onEvent(event.type, event.object);
      }
    }
  };
  send(
    config,
    { method: 'GET', path: request.path, query, timeoutMs: request.silenceMs, signal: stopped.signal },
    readEvents,
  ).then(() => {
    onDone();
  }, onDone);
  return {
    abort: () => {
      stopped.abort();
    },
  };
}

/**
 * Sends `request` and reads a 2xx answer's body with `read`, which may call
 * `heardFrom` to restart the request's timeout (a watch times out on silence);
 * throws ApiRequestError on any other status.
 */
async function send<R>(
  config: KubeConfig,
  request: JsonRequest,
  read: (body: IncomingMessage, heardFrom: () => void) => Promise<R>,
): Promise<R> {
  const url = requestUrl(config, request);
  const options = await requestOptions(config, request.pool);
  const body = request.body === undefined ? undefined : JSON.stringify(request.body);
  const headers = {
    ...options.headers,
    accept: request.accept ?? 'application/json',
    ...(body === undefined
      ? {}
      : { 'content-type': request.contentType ?? 'application/json', 'content-length': Buffer.byteLength(body) }),
  };
  const abort = abortAfter(request.timeoutMs, request.signal);
  try {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const outgoingOptions = { ...options, method: request.method, headers, signal: abort.signal };
      const outgoing =
        url.protocol === 'http:'
          ? plainHttp().request(url, outgoingOptions, resolve)
          : httpsRequest(url, outgoingOptions, resolve);
      outgoing.on('error', reject);
      outgoing.end(body);
    });
    const statusCode = response.statusCode ?? 0;
    if (statusCode < 200 || statusCode > 299) {
      const status = parseStatus(await readText(response));
      throw new ApiRequestError(
        statusCode,
        `${request.method} ${url.pathname}: HTTP ${statusCode}: ${status.message}`,
        status.causes,
      );
    }
    return await read(response, abort.restart);
  } catch (error) {
    // Node fails an aborted request with a generic AbortError: say why it was aborted.
    throw abort.signal.aborted ? abort.signal.reason : error;
  } finally {
    abort.done();
  }
}

/**
 * node:http, for a cluster served over plain HTTP (`kubectl proxy`). Not an
 * import: importing node:http as an ES module reads its lazy WebSocket exports,
 * which loads Node's own copy of undici, 12 MiB for the life of the process.
 */
function plainHttp(): typeof import('node:http') {
  return process.getBuiltinModule('node:http');
}

async function readTextUpTo(body: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= maxBytes) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}

async function readText(body: IncomingMessage): Promise<string> {
  body.setEncoding('utf8');
  let text = '';
  for await (const chunk of body as AsyncIterable<string>) text += chunk;
  return text;
}

/**
 * A signal that aborts after `timeoutMs`, or when `signal` does; restart() starts
 * the time over, done() releases both. Not AbortSignal.timeout(): its timer
 * outlives the request, and at hundreds of requests a second the expired timers
 * cost more CPU than the requests.
 */
function abortAfter(
  timeoutMs: number,
  signal: AbortSignal | undefined,
): { signal: AbortSignal; restart: () => void; done: () => void } {
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
    restart: () => timer.refresh(),
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
  if (!url.pathname.endsWith(request.path))
    throw new InvalidPathError(`request path ${request.path} would be sent as ${url.pathname}`);
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
