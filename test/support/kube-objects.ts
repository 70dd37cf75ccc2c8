// Reads of workloads, their revisions and Events, for assertions in end-to-end tests.
import { kubectlJson, waitFor } from './kube.ts';
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

export interface KubeEvent {
  metadata: { name: string };
  reason: string;
  type: string;
  message: string;
  count?: number;
  lastTimestamp?: string;
  involvedObject: { kind: string; name: string };
}

/** The Events in `namespace` with `reason`. */
export async function eventsOf(namespace: string, reason: string): Promise<KubeEvent[]> {
  return (
    await kubectlJson<ObjectList<KubeEvent>>(['get', 'events', '-n', namespace, '--field-selector', `reason=${reason}`])
  ).items;
}

/** Waits for at least one Event with `reason` (confighash writes Events in the background); returns them all. */
export async function waitForEvents(namespace: string, reason: string, timeoutMs?: number): Promise<KubeEvent[]> {
  return waitFor(
    `an Event ${reason} in ${namespace}`,
    async () => {
      const found = await eventsOf(namespace, reason);
      return found.length > 0 ? found : undefined;
    },
    timeoutMs,
  );
}
