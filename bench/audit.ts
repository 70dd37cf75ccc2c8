// confighash's requests as the API server saw them: the local control plane writes
// an audit event for every request made as confighash's (or Reloader's) ServiceAccount when it
// completes (test/cluster/controlplane.ts), with its verb, resource and status code.
import { readFile } from 'node:fs/promises';
import { auditLogPath, CONFIGHASH_SERVICE_ACCOUNT } from '../test/cluster/controlplane.ts';
import type { ControlPlaneHandle } from '../test/cluster/launcher.ts';

export interface AuditedRequest {
  verb: string;
  resource: string;
  /** The object's namespace/name, when the request is for one object. */
  object: string;
  /** The namespace it was made in ('' when cluster-wide). */
  namespace: string;
  code: number;
  received: number;
}

interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  requestURI: string;
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
}

function controlPlaneDir(): string {
  const json = process.env['CONFIGHASH_TEST_CONTROL_PLANE'];
  if (!json)
    throw new Error(
      'benchmarks read the audit log of a control plane they started: run them with `npm run bench` or `npm test`',
    );
  return (JSON.parse(json) as ControlPlaneHandle).dir;
}

/** The requests of `user` (confighash's ServiceAccount unless said) received in [since, until) (ms since epoch). */
export async function auditedRequests(
  since: number,
  until: number,
  user = CONFIGHASH_SERVICE_ACCOUNT,
): Promise<AuditedRequest[]> {
  const text = await readFile(auditLogPath(controlPlaneDir()), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((event) => event.user.username === user)
    .map(auditedRequest)
    .filter(({ received }) => received >= since && received < until);
}

function auditedRequest(event: AuditEvent): AuditedRequest {
  const {
    resource = event.requestURI.split('?')[0] ?? '',
    subresource,
    namespace = '',
    name = '',
  } = event.objectRef ?? {};
  return {
    verb: event.verb,
    resource: subresource ? `${resource}/${subresource}` : resource,
    object: name ? `${namespace}/${name}` : '',
    namespace,
    code: event.responseStatus?.code ?? 0,
    received: Date.parse(event.requestReceivedTimestamp),
  };
}

/** Counts by "verb resource", e.g. `{ "watch configmaps": 2 }`, most frequent first. */
export function countByKind(requests: readonly AuditedRequest[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const { verb, resource } of requests)
    counts.set(`${verb} ${resource}`, (counts.get(`${verb} ${resource}`) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

/** Requests the API server refused for load (HTTP 429). */
export function throttled(requests: readonly AuditedRequest[]): number {
  return requests.filter((r) => r.code === 429).length;
}
