// How the agent asks a program to take its new configuration: a signal to its
// main process (`signal:SIGHUP`; the pod shares its process namespace), or a POST
// to a loopback endpoint (`http://127.0.0.1:9090/-/reload`; any 2xx is success).
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { parseReloadTrigger } from '../checksum/index.ts';

export interface Trigger {
  /** For logs and status: `signal:SIGHUP` or the URL. */
  readonly description: string;
  /** Resolves once the program took the reload; rejects saying why not. */
  fire(): Promise<void>;
}

export interface SignalTarget {
  /**
   * The process to signal: a fixed pid (tests), the first process with this
   * name, or the first whose environment holds `NAME=VALUE` (the marker the
   * webhook gives the reloaded container: its main process is the lowest pid).
   */
  pid?: number;
  processName?: string;
  environment?: string;
  /** A signalled process must still be alive this long afterwards. */
  verifyMs: number;
}

const HTTP_TIMEOUT_MS = 10_000;

/** Parses a trigger annotation value, as the webhook did before injecting the agent; throws with the accepted forms. */
export function parseTrigger(text: string, target: SignalTarget): Trigger {
  const trigger = parseReloadTrigger(text);
  if (trigger?.kind === 'signal') return signalTrigger(trigger.signal as NodeJS.Signals, target);
  if (trigger?.kind === 'http') return httpTrigger(trigger.url);
  throw new Error(
    `a reload trigger is signal:SIGNAME, a signal the program can catch (e.g. signal:SIGHUP), or http://127.0.0.1:PORT/PATH, got "${text.slice(0, 256)}"`,
  );
}

function signalTrigger(signal: NodeJS.Signals, target: SignalTarget): Trigger {
  return {
    description: `signal:${signal}`,
    async fire() {
      const pid = target.pid ?? (await findProcess(target));
      process.kill(pid, signal);
      await delay(target.verifyMs);
      if (!alive(pid)) throw new Error(`process ${pid} died after ${signal}`);
    },
  };
}

function httpTrigger(url: string): Trigger {
  return {
    description: url,
    async fire() {
      // redirect: manual — the agent calls the program's own endpoint and nothing else, wherever a response points.
      const response = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      }).catch((error: unknown) => {
        throw new Error(`POST ${url}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      });
      await response.body?.cancel();
      if (response.status < 200 || response.status > 299)
        throw new Error(
          `POST ${url}: HTTP ${response.status}${response.status >= 300 && response.status < 400 ? ' (a redirect, not followed)' : ''}`,
        );
    },
  };
}

/** The lowest pid matching the target (the container's main process in a shared namespace). */
async function findProcess(target: SignalTarget): Promise<number> {
  const pids = (await readdir('/proc'))
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .sort((a, b) => a - b);
  for (const pid of pids) {
    if (pid !== process.pid && (await matches(pid, target))) return pid;
  }
  throw new Error(
    target.environment
      ? `no process with ${target.environment} in its environment`
      : `no process named ${target.processName ?? ''}`,
  );
}

async function matches(pid: number, target: SignalTarget): Promise<boolean> {
  if (target.environment) {
    // Readable only for processes of the agent's own user: the app's, by construction.
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    return environ.split('\0').includes(target.environment);
  }
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === target.processName;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
