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
