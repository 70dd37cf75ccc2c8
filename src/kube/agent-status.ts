// What the reload agents in a workload's pods report, read without giving the
// agents any credentials: each agent logs a line (`agent status`, JSON) whenever
// its status changes, and this reads the last one from the pod's log through the
// API server (which asks the kubelet; nothing is sent to the pod's address).
import type { KubeConfig } from '@kubernetes/client-node';
import { AGENT_CONTAINER, AGENT_STATUS_MESSAGE } from '../checksum/index.ts';
import { apiPath, getJson, getText } from './raw.ts';

/** An agent's status, as it logs it (see src/agent/agent.ts). */
export interface AgentReport {
  state: 'current' | 'waiting' | 'reloading' | 'failed';
  reloads: number;
  startedAt: string;
  lastAttempt?: string;
  lastSuccess?: string;
  lastError?: string;
}

export interface AgentPod {
  name: string;
  /** Undefined when its agent has logged no status (yet). */
  report: AgentReport | undefined;
}

/** The agents of a workload's pods; over the API server in production, faked in tests. */
export interface AgentStatusReader {
  /** Every running pod matching `selector` that has the agent, with its last report. */
  agents(namespace: string, selector: string): Promise<AgentPod[]>;
}

interface PodList {
  items: { metadata?: { name?: string; deletionTimestamp?: string }; spec?: { initContainers?: { name?: string }[] }; status?: { phase?: string } }[];
}

const REQUEST_TIMEOUT_MS = 10_000;
/** Status lines are written on changes only: the last of these many log lines holds the current one. */
const TAIL_LINES = 200;

export function apiAgentStatusReader(config: KubeConfig): AgentStatusReader {
  return {
    async agents(namespace, selector) {
      const pods = apiPath('/api/v1', 'namespaces', namespace, 'pods');
      const list = await getJson<PodList>(config, pods, { labelSelector: selector }, REQUEST_TIMEOUT_MS);
      const running = list.items.filter((pod) =>
        pod.metadata?.name && !pod.metadata.deletionTimestamp && pod.status?.phase === 'Running' && (pod.spec?.initContainers ?? []).some((c) => c.name === AGENT_CONTAINER),
      );
      return Promise.all(running.map(async (pod) => {
        const name = pod.metadata?.name ?? '';
        const log = await getText(config, apiPath(pods, name, 'log'), { container: AGENT_CONTAINER, tailLines: TAIL_LINES }, REQUEST_TIMEOUT_MS).catch(() => '');
        return { name, report: lastReport(log) };
      }));
    },
  };
}

/** The last status an agent logged, from its log's text. */
export function lastReport(log: string): AgentReport | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    if (!line.includes(AGENT_STATUS_MESSAGE)) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; status?: AgentReport };
      if (entry.msg === AGENT_STATUS_MESSAGE && entry.status) return entry.status;
    } catch {
      // Not a line of the agent's JSON log.
    }
  }
  return undefined;
}
