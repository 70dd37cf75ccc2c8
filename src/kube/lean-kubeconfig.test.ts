import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const SRC = join(import.meta.dirname, '..');

/**
 * Loads `confighash run`'s modules in a fresh node, with the hook as main.ts
 * registers it and a second hook listing every module resolved; prints that list
 * and the server a KubeConfig loaded.
 */
const PROBE = `
import { createRequire, registerHooks } from 'node:module';
const { loadKubeConfigWithoutGeneratedClients } = await import(${JSON.stringify(join(SRC, 'kube', 'lean-kubeconfig.ts'))});
loadKubeConfigWithoutGeneratedClients();
const loaded = [];
registerHooks({ resolve(specifier, context, next) { const resolved = next(specifier, context); loaded.push(resolved.url); return resolved; } });
await import(${JSON.stringify(join(SRC, 'cli', 'run.ts'))});
const { loadKubeConfig } = await import(${JSON.stringify(join(SRC, 'kube', 'client.ts'))});
process.env.KUBECONFIG = process.argv[1];
const config = loadKubeConfig();
const server = config.getCurrentCluster()?.server;
const required = () => Object.keys(createRequire(import.meta.url).cache);
const requiredBeforeUse = required();
const loadedBeforeUse = [...loaded];
// Node's own undici, which an ES import of node:http loads (its lazy WebSocket exports).
const nodeUndici = process.moduleLoadList.filter((name) => name.includes('undici'));
// client-node's own transport, deferred until used: its undici Agent.
const dispatcher = config.createDispatcher(config.getCurrentCluster(), { ca: 'a CA' });
process.stdout.write(JSON.stringify({ loaded: loadedBeforeUse, server, requiredBeforeUse, requiredAfterUse: required(), nodeUndici, dispatcher: dispatcher.constructor.name }));
`;

describe('confighash run without the generated API clients', () => {
  it("loads none of client-node's generated APIs or models, nor its transports until used, and its KubeConfig still reads a kubeconfig", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'confighash-lean-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]',
        'users: [{ name: u, user: { token: not-a-secret } }]',
        'contexts: [{ name: x, context: { cluster: c, user: u } }]',
        'current-context: x',
      ].join('\n'),
    );
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--input-type=module',
      '--eval',
      PROBE,
      kubeconfig,
    ]);
    const { loaded, server, requiredBeforeUse, requiredAfterUse, dispatcher, nodeUndici } = JSON.parse(stdout) as {
      loaded: string[];
      server: string;
      requiredBeforeUse: string[];
      requiredAfterUse: string[];
      dispatcher: string;
      nodeUndici: string[];
    };
    const generated = loaded.filter(
      (url) => /\/client-node\/dist\/gen\/(apis|models|types)\//.test(url) && !url.endsWith('/apis/exception.js'),
    );
    assert.deepEqual(generated.slice(0, 3), [], `${generated.length} generated modules loaded, first these`);
    // node-forge only when a certificate is issued (tls/self-managed.ts), not to run.
    assert.deepEqual(loaded.filter((url) => url.includes('/node-forge/')).slice(0, 1), []);
    // The probe saw run.ts's own graph: without this, an empty list would prove nothing.
    assert.ok(loaded.some((url) => url.endsWith('/client-node/dist/config.js')));
    assert.equal(server, 'https://127.0.0.1:6443');
    const transports = (paths: string[]): string[] =>
      paths.filter((path) => /\/node_modules\/(undici|socks|socks-proxy-agent)\//.test(path));
    assert.deepEqual(transports([...loaded, ...requiredBeforeUse]).slice(0, 1), []);
    assert.deepEqual(nodeUndici, []);
    // Deferred, not removed: the first use loads the real module.
    assert.equal(dispatcher, 'Agent');
    assert.ok(transports(requiredAfterUse).some((path) => path.includes('/node_modules/undici/')));
  });
});
