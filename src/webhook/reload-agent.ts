// The reload agent as the webhook injects it into a pod template (pure): a native
// sidecar (an init container with restartPolicy Always) running `confighash agent`
// from confighash's own image, mounting the reloaded volumes read-only at the
// reloaded container's paths, with tiny requests, a restricted security context
// and no API credentials (an empty directory where the ServiceAccount token would
// be mounted). For a signal, the pod shares its process namespace and the agent
// runs as the app's user, which finds the app's main process by an environment
// marker the webhook adds to it. Everything injected can be taken out again
// (withoutAgent), so that removing the annotation removes it, in one rollout.
import { isDeepStrictEqual } from 'node:util';
import { AGENT_CONTAINER, reloadDecision, type ReloadPlan } from '../checksum/index.ts';
import type { PodTemplate } from './review.ts';

/** The agent's /healthz, /status and /metrics, on the pod's loopback. */
export const AGENT_PORT = 9099;
/**
 * The agent's startup probe, run in its container: Node.js of confighash's image
 * (the Dockerfile's layout) asking the agent's /healthz, bare (no module of
 * confighash's loaded: about 45 MiB while it runs, beside the agent's 80).
 */
const PROBE_COMMAND = [
  '/nodejs/bin/node',
  '-e',
  `require('node:http').get('http://127.0.0.1:${AGENT_PORT}/healthz', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))`,
];
/** Marks the reloaded container's processes, so the agent signals the right one. */
export const TARGET_ENV = 'CONFIGHASH_RELOAD_TARGET';
const NO_TOKEN_VOLUME = 'confighash-agent-no-token';
/** The agent's memory across its own restarts (src/agent/state.ts): in memory, as long as the pod lives, the agent's alone. */
const STATE_VOLUME = 'confighash-agent-state';
const STATE_DIR = '/run/confighash-agent';
const TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Template annotation: confighash injected the agent (and, when it says so, turned on shareProcessNamespace). */
export const AGENT_ANNOTATION = 'confighash.dev/reload-agent';
const SHARES_PROCESSES = 'shareProcessNamespace';
/** The agent's user when it need not be the app's (an HTTP trigger). */
const NOBODY = 65532;

/** A part of a pod spec: the fields read here, and whatever else it holds, kept as it is. */
type Part<T> = T & Record<string, unknown>;

type SecurityContext = Part<{ runAsUser?: number | null }>;

type ContainerSpec = Part<{
  name?: string;
  env?: Part<{ name?: string }>[] | null;
  securityContext?: SecurityContext | null;
  ports?: Part<{ containerPort?: number }>[] | null;
}>;

export type PodSpecObject = Part<{
  containers?: ContainerSpec[] | null;
  initContainers?: ContainerSpec[] | null;
  volumes?: Part<{ name?: string }>[] | null;
  shareProcessNamespace?: boolean | null;
  securityContext?: SecurityContext | null;
}>;

/** `template` with the agent the plan asks for; or why the pod cannot have one (then nothing is injected). */
export function withAgent(
  template: PodTemplate,
  plan: ReloadPlan,
  image: string,
): { template: PodTemplate } | { problem: string } {
  const spec = (template.spec ?? {}) as PodSpecObject;
  const user = injectionProblem(spec, plan) ?? agentUser(spec, plan);
  if (typeof user === 'string') return { problem: user };
  const signal = plan.trigger.kind === 'signal';
  const next: PodSpecObject = {
    ...spec,
    ...(signal ? { shareProcessNamespace: true } : {}),
    containers: (spec.containers ?? []).map((c) => (signal && c.name === plan.container ? markTarget(c) : c)),
    initContainers: [...(spec.initContainers ?? []), agentContainer(plan, image, user)],
    volumes: [
      ...(spec.volumes ?? []),
      { name: NO_TOKEN_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
      { name: STATE_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    ],
  };
  const marker = signal && spec.shareProcessNamespace !== true ? `injected,${SHARES_PROCESSES}` : 'injected';
  return { template: { ...template, metadata: withAnnotation(template.metadata, marker), spec: next } };
}

/** `template` with everything withAgent() added taken out again. */
export function withoutAgent(template: PodTemplate): PodTemplate {
  const marker = template.metadata?.annotations?.[AGENT_ANNOTATION];
  if (marker === undefined) return template;
  return {
    ...template,
    metadata: withAnnotation(template.metadata, undefined),
    spec: specWithoutAgent((template.spec ?? {}) as PodSpecObject, marker),
  };
}

function specWithoutAgent(spec: PodSpecObject, marker: string): PodSpecObject {
  const initContainers = (spec.initContainers ?? []).filter((c) => c.name !== AGENT_CONTAINER);
  const volumes = (spec.volumes ?? []).filter((v) => v.name !== NO_TOKEN_VOLUME && v.name !== STATE_VOLUME);
  return withoutFields({ ...spec, containers: (spec.containers ?? []).map(unmarkTarget), initContainers, volumes }, [
    initContainers.length === 0 && 'initContainers',
    volumes.length === 0 && 'volumes',
    marker.split(',').includes(SHARES_PROCESSES) && 'shareProcessNamespace',
  ]);
}

/** The agent's marker annotation set to `marker`, or removed (undefined). */
function withAnnotation(
  metadata: PodTemplate['metadata'],
  marker: string | undefined,
): NonNullable<PodTemplate['metadata']> {
  const annotations = Object.fromEntries(
    Object.entries(metadata?.annotations ?? {}).filter(([key]) => key !== AGENT_ANNOTATION),
  );
  return {
    ...metadata,
    annotations: marker === undefined ? annotations : { ...annotations, [AGENT_ANNOTATION]: marker },
  };
}

/** `object` without the named fields (a list the API server keeps absent when empty, a setting confighash turned on). */
function withoutFields<T extends object>(object: T, fields: readonly (string | false)[]): T {
  return Object.fromEntries(Object.entries(object).filter(([key]) => !fields.includes(key))) as T;
}

/** The agent's user: the app's for a signal (its processes are signalled by their own user), else nobody; or why none will do. */
function agentUser(spec: PodSpecObject, plan: ReloadPlan): number | string {
  if (plan.trigger.kind !== 'signal') return NOBODY;
  const user =
    spec.containers?.find((c) => c.name === plan.container)?.securityContext?.runAsUser ??
    spec.securityContext?.runAsUser ??
    undefined;
  if (user === undefined)
    return `to send ${plan.triggerText}, the agent runs as the app's user: set a non-root runAsUser on container "${plan.container}" or the pod`;
  if (user === 0)
    return `container "${plan.container}" runs as root, which the agent (non-root, no capabilities) cannot signal; run it as another user, or use an HTTP trigger`;
  return user;
}

function injectionProblem(spec: PodSpecObject, plan: ReloadPlan): string | undefined {
  const ports = [...(spec.containers ?? []), ...(spec.initContainers ?? [])].flatMap((c) =>
    (c.ports ?? []).map((p) => p.containerPort),
  );
  if (ports.includes(AGENT_PORT)) return `the agent listens on port ${AGENT_PORT}, which a container of the pod uses`;
  if ((spec.initContainers ?? []).some((c) => c.name === AGENT_CONTAINER))
    return `the pod already has a container named ${AGENT_CONTAINER}`;
  if (plan.trigger.kind === 'signal' && spec['hostPID'] === true)
    return 'a pod in the host PID namespace cannot share its process namespace';
  return undefined;
}

function agentContainer(plan: ReloadPlan, image: string, user: number): ContainerSpec {
  const target = plan.trigger.kind === 'signal' ? [`--target-env=${TARGET_ENV}=${plan.container}`] : [];
  return {
    name: AGENT_CONTAINER,
    image,
    restartPolicy: 'Always',
    args: [
      'agent',
      `--reload=${plan.triggerText}`,
      ...plan.volumes.map((v) => `--volume=${v.mountPath}`),
      ...target,
      `--port=${AGENT_PORT}`,
      `--state=${STATE_DIR}/state.json`,
    ],
    volumeMounts: [
      ...plan.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath, readOnly: true })),
      // The ServiceAccount token is not mounted where a mount already is: the agent holds no credentials.
      { name: NO_TOKEN_VOLUME, mountPath: TOKEN_PATH, readOnly: true },
      { name: STATE_VOLUME, mountPath: STATE_DIR },
    ],
    // The app starts only once the agent has read its volumes (a sidecar's startup probe holds the
    // next containers): a change right after the start is then reloaded, not taken as the baseline.
    startupProbe: { exec: { command: PROBE_COMMAND }, periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 60 },
    // Measured: the agent idles at about 80 MiB resident, the probe adds 45 while it runs.
    resources: { requests: { cpu: '5m', memory: '96Mi' }, limits: { memory: '192Mi' } },
    securityContext: {
      runAsUser: user,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

function markTarget(container: ContainerSpec): ContainerSpec {
  return { ...container, env: [...(container.env ?? []), { name: TARGET_ENV, value: container.name ?? '' }] };
}

function unmarkTarget(container: ContainerSpec): ContainerSpec {
  if (!container.env?.some((e) => e.name === TARGET_ENV)) return container;
  const env = container.env.filter((e) => e.name !== TARGET_ENV);
  return withoutFields({ ...container, env }, [env.length === 0 && 'env']);
}

/** The template to admit: with the agent as it would be written now, or as the previous version had it. */
export interface ShapedTemplate {
  /** With the agent written afresh (when the workload rolls anyway), or without one. */
  fresh: PodTemplate;
  /** With the previous version's agent kept exactly, when nothing else of the template changed: an upgrade of confighash rolls nothing. */
  kept: PodTemplate;
  /** Why the workload asked for reload in place and cannot have it. */
  warning?: string;
}

/**
 * Decides the agent of `template` (an admitted workload's, `old` its previous
 * version's): injected when the workload asks for reload in place and can have
 * it, taken out when it no longer asks.
 */
export function shapeTemplate(
  template: PodTemplate,
  old: PodTemplate | undefined,
  annotations: Readonly<Record<string, string>>,
  image: string | undefined,
): ShapedTemplate {
  const base = withoutAgent(template);
  const fresh = injection(base, annotations, image);
  if (typeof fresh === 'string')
    return {
      fresh: base,
      kept: base,
      warning: `confighash: not reloaded in place, every change rolls the workload: ${fresh}`,
    };
  return { fresh, kept: fresh === base ? base : (keptAgent(base, old) ?? fresh) };
}

/** `base` with the agent the annotations ask for (or `base` itself when they ask none); or why it cannot have one. */
function injection(
  base: PodTemplate,
  annotations: Readonly<Record<string, string>>,
  image: string | undefined,
): PodTemplate | string {
  const decision = reloadDecision(base.spec ?? {}, annotations);
  if (decision.kind === 'none') return base;
  if (decision.kind === 'unusable') return decision.reason;
  if (!image)
    return "reload in place is not enabled in this install (the reload-in-place component, or the chart's reloadInPlace.enabled; docs/reload.md)";
  const injected = withAgent(base, decision.plan, image);
  return 'problem' in injected ? injected.problem : injected.template;
}

/** `base` with `old`'s agent, exactly, when nothing else of the template changed; else undefined. */
function keptAgent(base: PodTemplate, old: PodTemplate | undefined): PodTemplate | undefined {
  const marker = old?.metadata?.annotations?.[AGENT_ANNOTATION];
  if (!old || marker === undefined || !sameTemplate(base, old)) return undefined;
  return { ...base, metadata: withAnnotation(base.metadata, marker), spec: old.spec ?? {} };
}

/** Whether two templates are the same apart from what confighash adds (its annotations, its agent): no rollout of the user's. */
export function sameTemplate(a: PodTemplate, b: PodTemplate): boolean {
  return isDeepStrictEqual(comparable(withoutAgent(a)), comparable(withoutAgent(b)));
}

/** A template as the user wrote it: without confighash's annotations. */
function comparable(template: PodTemplate): PodTemplate {
  const annotations = Object.fromEntries(
    Object.entries(template.metadata?.annotations ?? {}).filter(([key]) => !key.startsWith('confighash.dev/')),
  );
  return { ...template, metadata: { ...template.metadata, annotations } };
}
