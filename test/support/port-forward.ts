// `kubectl port-forward` to one pod's port, for tests that read what a pod serves
// (the API server and the kubelet carry it; nothing is sent to a pod address).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface PortForward {
  /** `http://127.0.0.1:PORT`, leading to the pod's port. */
  url: string;
  close(): void;
}

export async function portForward(namespace: string, pod: string, port: number): Promise<PortForward> {
  const child = spawn('kubectl', ['port-forward', '-n', namespace, `pod/${pod}`, `:${port}`, '--address=127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const local = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => {
      reject(new Error(`kubectl port-forward to ${namespace}/${pod} exited (${code}): ${stderr.trim()}`));
    });
  });
  return { url: `http://127.0.0.1:${local}`, close: () => child.kill() };
}
