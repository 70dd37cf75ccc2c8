// Reads of workloads and their revisions, for assertions in end-to-end tests.
import { kubectlJson } from './kube.ts';
import type { ObjectList, OwnedObject, Workload, WorkloadKind } from './workloads.ts';

export function getWorkload(namespace: string, kind: WorkloadKind, name: string): Promise<Workload> {
  return kubectlJson<Workload>(['get', kind.toLowerCase(), name, '-n', namespace]);
}

export function templateAnnotations(object: Workload): Record<string, string> {
  return object.spec.template.metadata.annotations ?? {};
}

/** ReplicaSets of a Deployment, or ControllerRevisions of a StatefulSet or DaemonSet. */
export async function revisions(namespace: string, kind: WorkloadKind, name: string): Promise<OwnedObject[]> {
  const resource = kind === 'Deployment' ? 'replicasets' : 'controllerrevisions';
  const list = await kubectlJson<ObjectList<OwnedObject & { metadata: { ownerReferences?: { name: string }[] } }>>([
    'get',
    resource,
    '-n',
    namespace,
  ]);
  return list.items.filter((item) => item.metadata.ownerReferences?.some((owner) => owner.name === name));
}
