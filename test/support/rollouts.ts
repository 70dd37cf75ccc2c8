// Assertions about rollouts for end-to-end tests of the controller. A rollout is
// a new revision (ReplicaSet or ControllerRevision), not a new generation: a
// Deployment's generation also moves when only its annotations change. "Exactly
// one" is checked once confighash has nothing left to do (its queue is empty) and
// the workload's controller has observed its latest spec, so a second rollout
// could not still be on its way.
import { metricValue, observedVersion } from './confighash.ts';
import { getWorkload, revisions } from './kube-objects.ts';
import { apply, kubectl, waitFor } from './kube.ts';
import { configMap, secret, workload, type WorkloadKind } from './workloads.ts';

/** Waits until the workload's controller has observed its latest spec; returns its generation. */
export async function settledGeneration(ns: string, kind: WorkloadKind, name: string): Promise<number> {
  return waitFor(`${kind} ${ns}/${name} to be observed by its controller`, async () => {
    const object = await getWorkload(ns, kind, name);
    const generation = object.metadata.generation ?? 1;
    return (object.status?.observedGeneration ?? 0) >= generation ? generation : undefined;
  });
}

/** Waits until the workload has at least `count` revisions (within `timeoutMs`, when it is given: a window, a pace). */
export async function waitForRevisions(
  ns: string,
  kind: WorkloadKind,
  name: string,
  wanted: number | { count: number; timeoutMs: number },
): Promise<void> {
  const { count, timeoutMs } = typeof wanted === 'number' ? { count: wanted, timeoutMs: undefined } : wanted;
  await waitFor(
    `${kind} ${ns}/${name} to have ${count} revisions`,
    async () => (await revisionCount(ns, kind, name)) >= count || undefined,
    timeoutMs,
  );
}

/**
 * Waits until confighash's controller has seen the workload as it is now, confighash
 * is idle, and the workload's controller has caught up; returns its revisions. An
 * empty queue alone proves nothing: the watch event may not have arrived yet.
 */
export async function settledRevisions(
  ns: string,
  kind: WorkloadKind,
  name: string,
  metricsUrl: string,
): Promise<number> {
  await waitForObserved(ns, kind, name, metricsUrl);
  await waitForIdle(metricsUrl);
  await settledGeneration(ns, kind, name);
  await waitForObserved(ns, kind, name, metricsUrl);
  await waitForIdle(metricsUrl);
  return revisionCount(ns, kind, name);
}

/** Waits until confighash's controller has seen the workload's current resourceVersion. */
export async function waitForObserved(ns: string, kind: WorkloadKind, name: string, metricsUrl: string): Promise<void> {
  await waitFor(`confighash to observe ${kind} ${ns}/${name}`, async () => {
    const current = (await getWorkload(ns, kind, name)).metadata.resourceVersion;
    return (await observedVersion(metricsUrl, kind, ns, name)) === current || undefined;
  });
}

/** Waits until confighash's work queue is empty. */
export async function waitForIdle(metricsUrl: string): Promise<void> {
  await waitFor(
    'confighash to have nothing queued',
    async () => (await metricValue(metricsUrl, 'confighash_queue_depth')) === 0 || undefined,
  );
}

/** Revisions: ReplicaSets of a Deployment, ControllerRevisions otherwise. */
export async function revisionCount(ns: string, kind: WorkloadKind, name: string): Promise<number> {
  return (await revisions(ns, kind, name)).length;
}

/**
 * Proves confighash has handled every earlier change of `kind` in `ns`: edits the
 * barrier source, waits for the barrier Deployment to roll (watch events of one
 * kind arrive in order), then for an empty queue.
 */
export async function barrier(ns: string, kind: 'configmap' | 'secret', metricsUrl: string): Promise<void> {
  const name = 'barrier';
  const exists = await kubectl(['get', 'deployment', name, '-n', ns, '--ignore-not-found', '-o', 'name']);
  if (!exists.trim()) {
    await apply(
      ns,
      configMap(name, { round: '0' }),
      secret(name, { round: '0' }),
      workload('Deployment', name, { envFrom: [{ configMapRef: { name } }, { secretRef: { name } }] }),
    );
  }
  await settledGeneration(ns, 'Deployment', name);
  const before = await revisionCount(ns, 'Deployment', name);
  const round = String(Date.now());
  const patch = kind === 'configmap' ? { data: { round } } : { stringData: { round } };
  await kubectl(['patch', kind, name, '-n', ns, '--type=merge', '-p', JSON.stringify(patch)]);
  await waitForRevisions(ns, 'Deployment', name, before + 1);
  await waitForIdle(metricsUrl);
}
