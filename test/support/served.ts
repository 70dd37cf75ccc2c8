// What the running application serves: test/node/testapp answers GET /config with
// the configuration its process has. Reached through `kubectl port-forward` to
// one pod (the API server and the kubelet carry it), never by pod IP.
import { IMAGES } from '../cluster/node.ts';
import { kubectlJson, waitFor } from './kube.ts';
import { portForward } from './port-forward.ts';
import type { ObjectList } from './workloads.ts';

export interface Served {
  env: string;
  file: string;
  pid: number;
  reloads: number;
}

export interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; restartCount: number }[];
  };
}

/** GET /config of one pod, through a port-forward that lives for this one request. */
export async function served(namespace: string, pod: string): Promise<Served> {
  const forward = await portForward(namespace, pod, 8080);
  try {
    const response = await fetch(`${forward.url}/config`);
    if (!response.ok) throw new Error(`GET /config of ${namespace}/${pod}: HTTP ${response.status}`);
    return (await response.json()) as Served;
  } finally {
    forward.close();
  }
}

/** The workload's pods (by its `app` label), without those on their way out. */
export async function pods(namespace: string, app: string): Promise<Pod[]> {
  const list = await kubectlJson<ObjectList<Pod>>(['get', 'pods', '-n', namespace, '-l', `app=${app}`]);
  return list.items.filter((p) => !p.metadata.deletionTimestamp);
}

function ready(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * Waits until the rollout is complete: `replicas` pods, every one Ready and of the
 * workload's current revision, and no other pod left.
 */
export async function waitForRolledOut(
  namespace: string,
  kind: 'Deployment' | 'StatefulSet',
  name: string,
  replicas: number,
): Promise<Pod[]> {
  return waitFor(
    `${kind} ${namespace}/${name} to be rolled out with ${replicas} Ready pods`,
    async () => {
      const workload = await kubectlJson<{
        status?: {
          updatedReplicas?: number;
          readyReplicas?: number;
          replicas?: number;
          currentRevision?: string;
          updateRevision?: string;
        };
      }>(['get', kind.toLowerCase(), name, '-n', namespace]);
      const status = workload.status ?? {};
      const all = await kubectlJson<ObjectList<Pod>>(['get', 'pods', '-n', namespace, '-l', `app=${name}`]);
      const done =
        status.updatedReplicas === replicas &&
        status.readyReplicas === replicas &&
        status.replicas === replicas &&
        (kind === 'Deployment' || status.currentRevision === status.updateRevision) &&
        all.items.length === replicas &&
        all.items.every((p) => ready(p) && !p.metadata.deletionTimestamp);
      return done ? all.items : undefined;
    },
    120_000,
  );
}

/** A container running test/node/testapp, serving CONFIG_ENV and /etc/app/config. */
export function testappContainer(env: object[], extraArgs: string[] = []): object {
  return {
    name: 'app',
    image: IMAGES.testapp,
    imagePullPolicy: 'Never',
    args: ['--listen=127.0.0.1:8080', '--file=/etc/app/config', ...extraArgs],
    env,
    volumeMounts: [{ name: 'config', mountPath: '/etc/app' }],
    readinessProbe: { exec: { command: ['/testapp', '-probe=http://127.0.0.1:8080/healthz'] }, periodSeconds: 1 },
  };
}
