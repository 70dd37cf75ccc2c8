// The `reload` strategy, decided from the pod template alone (pure, shared by the
// webhook, the controller and `status`): which container is reloaded in place, by
// what trigger, and which volumes can change under it. Only a configMap, secret or
// projected volume mounted without subPath (the kubelet never updates a subPath
// mount), and only into the reloaded container, can change in a running pod; every
// other way of consuming configuration (env, envFrom, subPath, other containers,
// init containers) still rolls the workload.
import { constants } from 'node:os';
import type { PodSpecLike } from './sources.ts';

export const RELOAD_ANNOTATION = {
  /** Workload: `signal:SIGHUP` (any signal) or `http://127.0.0.1:PORT/PATH`. */
  trigger: 'confighash.dev/reload',
  /** Workload: the container to reload (default: the first). */
  container: 'confighash.dev/reload-container',
  /** Workload: `rollout`: a failed reload rolls the workload, once. */
  fallback: 'confighash.dev/reload-fallback',
} as const;

/** The injected agent's container name: confighash's own, never the user's. */
export const AGENT_CONTAINER = 'confighash-agent';

/** The message of the agent's log line that carries its status: how the controller learns it. */
export const AGENT_STATUS_MESSAGE = 'agent status';

/**
 * Workload metadata: the stamp (`<checksum> <sources>`) of the reloaded sources
 * every pod has confirmed it runs; a difference from the sources now is a reload
 * under way, or one that failed.
 */
export const RELOADED_ANNOTATION = 'confighash.dev/reloaded';

/** Pod template: the reload a rollout stood in for (confighash.dev/reload-fallback: rollout). */
export const RELOAD_FALLBACK_ANNOTATION = 'confighash.dev/reload-fallback-for';

export type Trigger = { kind: 'signal'; signal: string } | { kind: 'http'; url: string };

export interface ReloadPlan {
  trigger: Trigger;
  /** The annotation's text, as the agent's --reload takes it. */
  triggerText: string;
  container: string;
  /** The volumes that can change in place, and where the reloaded container mounts them. */
  volumes: { name: string; mountPath: string }[];
  fallback: 'rollout' | undefined;
}

export type ReloadDecision =
  { kind: 'none' } | { kind: 'plan'; plan: ReloadPlan } | { kind: 'unusable'; reason: string };

/** What reload reads of a pod spec: the same structural subset as the sources'. */
export type ReloadPodSpec = PodSpecLike;
type Container = NonNullable<PodSpecLike['containers']>[number];
type Mount = NonNullable<Container['volumeMounts']>[number];

const SIGNAL = /^signal:(SIG[A-Z0-9]+)$/;

/** The reload strategy the workload asks for, or why it cannot have it. */
export function reloadDecision(spec: ReloadPodSpec, annotations: Readonly<Record<string, string>>): ReloadDecision {
  const text = annotations[RELOAD_ANNOTATION.trigger];
  if (text === undefined) return { kind: 'none' };
  const trigger = parseReloadTrigger(text.trim());
  if (!trigger)
    return unusable(
      `${RELOAD_ANNOTATION.trigger} must be signal:SIGNAME, a signal the program can catch (e.g. signal:SIGHUP), or http://127.0.0.1:PORT/PATH, not "${text.slice(0, 80)}"`,
    );
  const containers = spec.containers ?? [];
  const wanted = annotations[RELOAD_ANNOTATION.container];
  const container = wanted === undefined ? containers[0] : containers.find((c) => c.name === wanted);
  if (!container?.name)
    return unusable(wanted === undefined ? 'the pod has no container' : `it has no container "${wanted}"`);
  const volumes = reloadableVolumes(spec, container);
  if (volumes.length === 0) {
    return unusable(
      `nothing container "${container.name}" consumes can change in place: it mounts no configMap, secret or projected volume of its own without subPath`,
    );
  }
  const fallback = annotations[RELOAD_ANNOTATION.fallback] === 'rollout' ? 'rollout' : undefined;
  return { kind: 'plan', plan: { trigger, triggerText: text.trim(), container: container.name, volumes, fallback } };
}

/** Signals that end or stop the program rather than ask it anything. */
const NOT_A_RELOAD = new Set(['SIGKILL', 'SIGSTOP']);

/**
 * `signal:SIGHUP` or `http://127.0.0.1:PORT/PATH` (the agent reaches the app over
 * the pod's loopback). The webhook and the agent parse with this one function, so
 * a trigger the agent would refuse at start (and a pod that cannot start) is
 * refused at admission instead.
 */
export function parseReloadTrigger(text: string): Trigger | undefined {
  const signal = SIGNAL.exec(text)?.[1];
  if (signal) return signal in constants.signals && !NOT_A_RELOAD.has(signal) ? { kind: 'signal', signal } : undefined;
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  return url.protocol === 'http:' && url.hostname === '127.0.0.1' && url.port !== ''
    ? { kind: 'http', url: text }
    : undefined;
}

/** The names of the volumes whose changes are reloaded, when the agent is there to reload them; else none. */
export function reloadedVolumes(
  spec: ReloadPodSpec,
  annotations: Readonly<Record<string, string>>,
): ReadonlySet<string> {
  const decision = reloadDecision(spec, annotations);
  if (decision.kind !== 'plan' || !hasAgent(spec)) return new Set();
  return new Set(decision.plan.volumes.map((v) => v.name));
}

/** Whether the pod spec carries the injected agent. */
export function hasAgent(spec: ReloadPodSpec): boolean {
  return (spec.initContainers ?? []).some((c) => c.name === AGENT_CONTAINER);
}

/**
 * Configuration volumes mounted, without subPath, by `container` and by no other
 * container (the agent aside): an init container reads them once, and a second
 * container would not be reloaded.
 */
function reloadableVolumes(spec: ReloadPodSpec, container: Container): { name: string; mountPath: string }[] {
  const others = [...(spec.containers ?? []), ...(spec.initContainers ?? [])].filter(
    (c) => c !== container && c.name !== AGENT_CONTAINER,
  );
  const mountedElsewhere = new Set(others.flatMap((c) => (c.volumeMounts ?? []).map((m) => m.name)));
  const configuration = new Set(
    (spec.volumes ?? []).filter((v) => v.configMap || v.secret || v.projected).map((v) => v.name),
  );
  const mounts = container.volumeMounts ?? [];
  const bySubPath = new Set(mounts.filter((m) => m.subPath || m.subPathExpr).map((m) => m.name));
  return mounts
    .filter((m): m is Mount & { name: string; mountPath: string } => Boolean(m.name && m.mountPath))
    .filter((m) => configuration.has(m.name) && !bySubPath.has(m.name) && !mountedElsewhere.has(m.name))
    .map(({ name, mountPath }) => ({ name, mountPath }));
}

function unusable(reason: string): ReloadDecision {
  return { kind: 'unusable', reason };
}
