// What the reload agents in a workload's pods report, read without giving the
// agents any credentials: each agent logs a line (`agent status`, JSON) whenever
// its status changes, and this reads the last one from the pod's log through the
// API server (which asks the kubelet; nothing is sent to the pod's address).
//
// A pod's log is a tenant's text, and a workload may have thousands of pods, so
// every read is bounded: only Running pods the workload itself owns count (its
// ReplicaSets' for a Deployment or Rollout; a pod a tenant made by hand with a
// container named confighash-agent does not), pods are listed in pages, a log is
// read to LOG_MAX_BYTES at most, and log reads are paced for the whole process —
// at most LOG_READS_PER_SECOND, LOG_READS_IN_FLIGHT at once — whatever the
// number of workloads or pods (docs/reload.md).
import type { KubeConfig } from '@kubernetes/client-node';
import { AGENT_CONTAINER, AGENT_STATUS_MESSAGE, type WorkloadKind } from '../checksum/index.ts';
import { oneLine } from '../telemetry/one-line.ts';
import { sleep } from '../time/sleep.ts';
import { TokenBucket } from '../time/token-bucket.ts';
import { apiPath, getText, listPage } from '../kube/raw.ts';

/** An agent's status, as it logs it (see src/agent/agent.ts). */
export interface AgentReport {
  state: 'current' | 'waiting' | 'reloading' | 'failed';
  reloads: number;
  startedAt: string;
  lastAttempt?: string;
  lastSuccess?: string;
  lastError?: string;
}

/** The workload whose pods' agents are read. */
export interface AgentWorkload {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  uid: string;
  /** Its pods' label selector, as the API server takes it. */
  selector: string;
}

/** The agents of a workload's pods; over the API server in production, faked in tests. */
export interface AgentStatusReader {
  /** The names of the Running pods the workload owns that carry the agent. */
  pods(workload: AgentWorkload): Promise<string[]>;
  /** The last status the pod's agent logged; undefined when it has logged none (yet). */
  report(namespace: string, pod: string): Promise<AgentReport | undefined>;
}

interface PodItem {
  metadata?: {
    name?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; uid?: string; controller?: boolean }[];
  };
  spec?: { initContainers?: { name?: string }[] };
}

const REQUEST_TIMEOUT_MS = 10_000;
const PAGE_SIZE = 500;
/** Status lines are written on changes only, each well under 1 KiB: the last ones fit in this. */
const LOG_TAIL_LINES = 50;
export const LOG_MAX_BYTES = 16 * 1024;
export const LOG_READS_PER_SECOND = 20;
export const LOG_READS_IN_FLIGHT = 4;
/** The pod-template-hash labels of a Deployment's and of a Rollout's ReplicaSets: a ReplicaSet is named `<workload>-<hash>`. */
const TEMPLATE_HASH_LABELS = ['pod-template-hash', 'rollouts-pod-template-hash'];

export function apiAgentStatusReader(config: KubeConfig): AgentStatusReader {
  const pacing = new LogPacing(LOG_READS_PER_SECOND, LOG_READS_IN_FLIGHT);
  return {
    async pods(workload) {
      const path = apiPath('/api/v1', 'namespaces', workload.namespace, 'pods');
      const names: string[] = [];
      let next: string | undefined;
      do {
        const query = {
          labelSelector: workload.selector,
          fieldSelector: 'status.phase=Running',
          limit: PAGE_SIZE,
          continue: next,
        };
        const page = await listPage<PodItem>(config, { path, query, timeoutMs: REQUEST_TIMEOUT_MS }, (pod) => {
          if (isAgentPodOf(workload, pod)) names.push(pod.metadata?.name ?? '');
        });
        next = page.continue || undefined;
      } while (next);
      return names;
    },
    async report(namespace, pod) {
      const path = apiPath('/api/v1', 'namespaces', namespace, 'pods', pod, 'log');
      const log = await pacing.run(() =>
        getText(
          config,
          path,
          { container: AGENT_CONTAINER, tailLines: LOG_TAIL_LINES, limitBytes: LOG_MAX_BYTES },
          { timeoutMs: REQUEST_TIMEOUT_MS, maxBytes: LOG_MAX_BYTES },
        ),
      );
      return lastReport(log);
    },
  };
}

/** Whether the pod is one of the workload's own, alive, and carries the agent. */
export function isAgentPodOf(workload: Pick<AgentWorkload, 'kind' | 'name' | 'uid'>, pod: PodItem): boolean {
  const metadata = pod.metadata ?? {};
  if (!metadata.name || metadata.deletionTimestamp) return false;
  if (!(pod.spec?.initContainers ?? []).some((c) => c.name === AGENT_CONTAINER)) return false;
  return ownedBy(workload, metadata);
}

function ownedBy(
  workload: Pick<AgentWorkload, 'kind' | 'name' | 'uid'>,
  metadata: NonNullable<PodItem['metadata']>,
): boolean {
  const owner = (metadata.ownerReferences ?? []).find((o) => o.controller === true);
  if (!owner) return false;
  if (workload.kind === 'StatefulSet' || workload.kind === 'DaemonSet')
    return owner.kind === workload.kind && owner.uid === workload.uid;
  // A Deployment's (or Rollout's) pods belong to its ReplicaSets, which it names after itself and the template's hash.
  const hash = TEMPLATE_HASH_LABELS.map((label) => metadata.labels?.[label]).find((value) => value !== undefined);
  return owner.kind === 'ReplicaSet' && hash !== undefined && owner.name === `${workload.name}-${hash}`;
}

/**
 * The last status an agent logged, from its log's text. A log is whatever the
 * pod prints, so a line is taken only in the agent's shape, and its error text
 * (which reaches Events and chat) as one line of at most MAX_ERROR_LENGTH.
 */
export function lastReport(log: string): AgentReport | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    if (!line.includes(AGENT_STATUS_MESSAGE)) continue;
    try {
      const entry = JSON.parse(line) as { msg?: unknown; status?: unknown };
      const report = entry.msg === AGENT_STATUS_MESSAGE ? asReport(entry.status) : undefined;
      if (report) return report;
    } catch {
      // Not a line of the agent's JSON log.
    }
  }
  return undefined;
}

const STATES: readonly string[] = ['current', 'waiting', 'reloading', 'failed'];
const MAX_ERROR_LENGTH = 300;

function asReport(value: unknown): AgentReport | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { state, reloads, startedAt, lastAttempt, lastSuccess, lastError } = value as Record<string, unknown>;
  if (typeof state !== 'string' || !STATES.includes(state) || typeof startedAt !== 'string') return undefined;
  const optional = (name: string, field: unknown, limit = 64): Record<string, string> =>
    typeof field === 'string' ? { [name]: oneLine(field, limit) } : {};
  return {
    state: state as AgentReport['state'],
    reloads: typeof reloads === 'number' ? reloads : 0,
    startedAt: oneLine(startedAt, 64),
    ...optional('lastAttempt', lastAttempt),
    ...optional('lastSuccess', lastSuccess),
    ...optional('lastError', lastError, MAX_ERROR_LENGTH),
  };
}

/** Log reads for the whole process: at most `ratePerSecond`, and `inFlight` at once. */
export class LogPacing {
  readonly #bucket: TokenBucket;
  readonly #inFlight: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  /** Never aborted: a read waits out its turn (the caller's deadline bounds the whole). */
  readonly #never = new AbortController().signal;

  constructor(ratePerSecond: number, inFlight: number) {
    this.#bucket = new TokenBucket(ratePerSecond, inFlight);
    this.#inFlight = inFlight;
  }

  async run<T>(read: () => Promise<T>): Promise<T> {
    // A finished read hands its slot to the next waiting one.
    if (this.#running >= this.#inFlight) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      for (let wait = this.#bucket.take(); wait > 0; wait = this.#bucket.take()) await sleep(wait, this.#never);
      return await read();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
