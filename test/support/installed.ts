// What tests of confighash installed in the cluster share: Deployments that run on
// the node, confighash's own pods and its leader, and "settled": nothing left for
// confighash to do, so that a count of ReplicaSets is final.
import { NAMESPACE } from '../cluster/in-cluster.ts';
import { IMAGES, NODE_TOLERATION } from '../cluster/node.ts';
import { getWorkload } from './kube-objects.ts';
import { kubectl, kubectlJson, waitFor } from './kube.ts';
import { portForward } from './port-forward.ts';
import { revisionCount, settledGeneration } from './rollouts.ts';
import type { Pod } from './served.ts';
import { type ObjectList, workload } from './workloads.ts';

export const POD_SELECTOR = 'app.kubernetes.io/name=confighash';

/** A Deployment whose pod runs on the node, consuming `configMapName` through envFrom. */
export function runningDeployment(name: string, configMapName: string): object {
  const object = workload('Deployment', name, {
    image: IMAGES.pause,
    imagePullPolicy: 'Never',
    envFrom: [{ configMapRef: { name: configMapName } }],
  }) as {
    spec: { template: { spec: Record<string, unknown> } };
  };
  object.spec.template.spec['tolerations'] = [NODE_TOLERATION];
  object.spec.template.spec['terminationGracePeriodSeconds'] = 0;
  return object;
}

export async function namespace(name: string, optedIn = true): Promise<string> {
  await kubectl(['create', 'namespace', name]);
  if (optedIn) await kubectl(['label', 'namespace', name, 'confighash.dev/enabled=true']);
  return name;
}

export async function confighashPods(): Promise<Pod[]> {
  const list = await kubectlJson<ObjectList<Pod & { spec: { containers: { securityContext?: object }[] } }>>([
    'get',
    'pods',
    '-n',
    NAMESPACE,
    '-l',
    POD_SELECTOR,
  ]);
  return list.items.filter((pod) => !pod.metadata.deletionTimestamp);
}

/** The pod that holds the controller's Lease (its identity is `<pod>_<uuid>`). */
export async function leaderPod(): Promise<string> {
  return waitFor(
    'a confighash leader',
    async () => {
      const lease = await kubectlJson<{ spec?: { holderIdentity?: string } }>([
        'get',
        'lease',
        'confighash-controller',
        '-n',
        NAMESPACE,
      ]);
      const holder = lease.spec?.holderIdentity?.split('_')[0];
      const alive = (await confighashPods()).some((pod) => pod.metadata.name === holder);
      return holder && alive ? holder : undefined;
    },
    60_000,
  );
}

/**
 * Each Deployment's ReplicaSets once nothing is left to do: its controller has seen
 * its latest spec, the leader's queue is empty, and both still hold after the leader
 * has seen each Deployment as it is now (its /debug/observed).
 */
export async function settled(ns: string, names: readonly string[]): Promise<number[]> {
  for (let round = 0; round < 2; round++) {
    for (const name of names) await settledGeneration(ns, 'Deployment', name);
    await waitFor(
      'the leader to have seen every Deployment as it is',
      async () => {
        const forward = await portForward(NAMESPACE, await leaderPod(), 8080);
        try {
          for (const name of names) {
            const current = (await getWorkload(ns, 'Deployment', name)).metadata.resourceVersion;
            const seen = await (await fetch(`${forward.url}/debug/observed/Deployment/${ns}/${name}`)).text();
            if (seen.trim() !== current) return undefined;
          }
          const metrics = await (await fetch(`${forward.url}/metrics`)).text();
          return /^confighash_queue_depth 0$/m.test(metrics) || undefined;
        } finally {
          forward.close();
        }
      },
      120_000,
    );
  }
  return Promise.all(names.map((name) => revisionCount(ns, 'Deployment', name)));
}
