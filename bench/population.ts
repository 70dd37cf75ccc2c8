// The objects of the scale benchmark: ConfigMaps and Secrets in a realistic size
// mix (most small, some of 100 KB and more, like Helm release Secrets) and
// Deployments consuming them, spread over opted-in namespaces, created straight
// through the API, many at a time.
import { randomBytes } from 'node:crypto';
import { loadKubeConfig } from '../src/kube/client.ts';
import { requestJson } from '../src/kube/raw.ts';
import { forEachConcurrently } from '../src/sources/reader.ts';

export const NAMESPACES = Array.from({ length: 10 }, (_, i) => `bench-scale-${i}`);
const CONCURRENCY = 16;
const KIB = 1024;

interface Placed {
  namespace: string;
  name: string;
}

/** Source `i` of a kind: its namespace and name (its index within that namespace). */
export function placeSource(kind: 'configmap' | 'secret', i: number): Placed {
  return { namespace: NAMESPACES[i % NAMESPACES.length] ?? '', name: `${kind}-${Math.floor(i / NAMESPACES.length)}` };
}

/**
 * ConfigMap i: one in ten holds a 100 KiB file, three in ten 8 KiB over four keys,
 * the rest 1 KiB over five keys (13 KiB on average).
 */
export function configMapData(i: number): Record<string, string> {
  const text = (bytes: number): string => randomBytes(bytes / 2).toString('hex');
  if (i % 10 === 0) return { 'config.yaml': text(100 * KIB) };
  if (i % 10 <= 3) return Object.fromEntries(['a', 'b', 'c', 'd'].map((k) => [`${k}.properties`, text(2 * KIB)]));
  return Object.fromEntries(['HOST', 'PORT', 'MODE', 'REGION', 'LEVEL'].map((k) => [k, text(200)]));
}

/**
 * Secret i (base64 data): one in four a 150 KiB Helm release, one in four a TLS
 * pair of 4 KiB each, the rest credentials of 1 KiB (40 KiB on average).
 */
export function secretData(i: number): Record<string, string> {
  const bytes = (n: number): string => randomBytes(n).toString('base64');
  if (i % 4 === 0) return { release: bytes(150 * KIB) };
  if (i % 4 === 1) return { 'tls.crt': bytes(4 * KIB), 'tls.key': bytes(4 * KIB) };
  return { username: bytes(24), password: bytes(1000) };
}

/** Bytes of data an object holds (decoded, as etcd stores it). */
export function dataBytes(kind: 'configmap' | 'secret', data: Record<string, string>): number {
  return Object.values(data).reduce(
    (sum, v) => sum + (kind === 'secret' ? Buffer.byteLength(v, 'base64') : Buffer.byteLength(v)),
    0,
  );
}

/** Deployment j consumes three sources of its namespace: two ConfigMaps (env and a volume) and a Secret (env). */
export function deployment(j: number): Placed & { object: object } {
  const namespace = NAMESPACES[j % NAMESPACES.length] ?? '';
  const m = Math.floor(j / NAMESPACES.length);
  const name = `app-${m}`;
  const object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      // No pods: their number changes nothing for confighash, and would only load the control plane.
      replicas: 0,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'registry.k8s.io/pause:3.10',
              envFrom: [{ configMapRef: { name: `configmap-${5 * m}` } }, { secretRef: { name: `secret-${5 * m}` } }],
              volumeMounts: [{ name: 'config', mountPath: '/etc/app' }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: `configmap-${5 * m + 1}` } }],
        },
      },
    },
  };
  return { namespace, name, object };
}

export async function create(path: string, object: object): Promise<void> {
  await requestJson(loadKubeConfig(), { method: 'POST', path, body: object, timeoutMs: 60_000 });
}

/** Creates sources [from, to) of each kind; returns the bytes of data created. */
export async function createSources(from: number, to: number): Promise<number> {
  let bytes = 0;
  const indices = Array.from({ length: to - from }, (_, k) => from + k);
  await forEachConcurrently(indices, CONCURRENCY, async (i) => {
    const cm = placeSource('configmap', i);
    const cmData = configMapData(i);
    await create(`/api/v1/namespaces/${cm.namespace}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: cm.name },
      data: cmData,
    });
    const secret = placeSource('secret', i);
    const data = secretData(i);
    await create(`/api/v1/namespaces/${secret.namespace}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret.name },
      data,
    });
    bytes += dataBytes('configmap', cmData) + dataBytes('secret', data);
  });
  return bytes;
}

/** Creates Deployments [from, to). */
export async function createDeployments(from: number, to: number): Promise<void> {
  const indices = Array.from({ length: to - from }, (_, k) => from + k);
  await forEachConcurrently(indices, CONCURRENCY, async (j) => {
    const { namespace, object } = deployment(j);
    await create(`/apis/apps/v1/namespaces/${namespace}/deployments`, object);
  });
}
