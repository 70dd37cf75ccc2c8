// Minimal workload manifests for end-to-end tests. Without a kubelet no pod ever
// runs, so tests assert on ReplicaSets and ControllerRevisions, not on pods.

export interface ObjectList<T> {
  items: T[];
}

export interface OwnedObject {
  metadata: { name: string; annotations?: Record<string, string> };
}

export function deployment(name: string, podAnnotations: Record<string, string> = {}): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: podTemplate(name, podAnnotations),
    },
  };
}

export function statefulSet(name: string): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name },
    spec: {
      replicas: 1,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: podTemplate(name, {}),
    },
  };
}

function podTemplate(name: string, annotations: Record<string, string>): object {
  return {
    metadata: { labels: { app: name }, annotations },
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
  };
}

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export interface Workload {
  metadata: { name: string; generation?: number; resourceVersion?: string; annotations?: Record<string, string> };
  spec: { template: OwnedObject };
  status?: { observedGeneration?: number };
}

/** A workload of `kind` whose one container has `container` fields (env, envFrom, …). */
export function workload(
  kind: WorkloadKind,
  name: string,
  container: object,
  { annotations = {}, volumes = [] }: { annotations?: Record<string, string>; volumes?: object[] } = {},
): object {
  const spec: Record<string, unknown> = {
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', ...container }],
        ...(volumes.length > 0 ? { volumes } : {}),
      },
    },
  };
  if (kind === 'StatefulSet') spec['serviceName'] = name;
  // Empty maps and lists are left out: the apiserver drops them, and kubectl apply would see a change.
  const metadata = Object.keys(annotations).length > 0 ? { name, annotations } : { name };
  return { apiVersion: 'apps/v1', kind, metadata, spec };
}

export function configMap(name: string, data: Record<string, string>): object {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
}

export function secret(name: string, stringData: Record<string, string>): object {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData };
}
