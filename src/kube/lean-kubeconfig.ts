// @kubernetes/client-node's KubeConfig (kubeconfig files, in-cluster config,
// every authentication method) without what `confighash run` never uses of the
// package: its generated API clients, and the transports of its own requests.
//
// Its config.js imports the generated clients' index for two names only,
// createConfiguration and ServerConfiguration (for makeApiClient); that index
// loads a thousand modules of API classes and models, about 45 MiB of memory.
// The hook below hands config.js a module of just those two names. Should a
// client-node release import more from there, the process fails at once,
// naming the missing export.
//
// It also imports undici (its fetch transport), socks-proxy-agent and socks (a
// SOCKS proxy named in the kubeconfig), about 7 MiB together, for requests
// `run` does not make that way: its requests go over node:https with the
// credentials and agent KubeConfig.applyToHTTPSOptions gives (kube/raw.ts). Each
// of them is loaded the first time client-node uses one of its exports, which
// for a SOCKS proxy is the first request. And it imports node:http as an ES
// module, which reads node:http's lazy WebSocket exports and so loads Node's own
// copy of undici (12 MiB); it is given the CommonJS module instead.
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

const CLIENT_NODE_DIST = '/@kubernetes/client-node/dist/';
const GENERATED_INDEX = './gen/index.js';

/** Each deferred module → the exports client-node's modules import from it. */
const DEFERRED: Readonly<Record<string, readonly string[]>> = {
  undici: ['Agent', 'ProxyAgent', 'fetch'],
  'socks-proxy-agent': ['SocksProxyAgent'],
  socks: ['SocksClient'],
};

export function loadKubeConfigWithoutGeneratedClients(): void {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const parent = context.parentURL;
      if (!parent?.includes(CLIENT_NODE_DIST)) return nextResolve(specifier, context);
      if (specifier === GENERATED_INDEX && parent.endsWith(`${CLIENT_NODE_DIST}config.js`)) {
        const at = (path: string): string => new URL(path, parent).href;
        return javascript([
          `export { createConfiguration } from ${JSON.stringify(at('./gen/configuration.js'))};`,
          `export { ServerConfiguration } from ${JSON.stringify(at('./gen/servers.js'))};`,
        ]);
      }
      if (specifier === 'node:http') return javascript([`export default process.getBuiltinModule('node:http');`]);
      const names = DEFERRED[specifier];
      if (!names) return nextResolve(specifier, context);
      return javascript(deferredModule(nextResolve(specifier, context).url, names));
    },
  });
}

/**
 * A module exporting `names` of the module at `url`, which it require()s on the first
 * call, construction or property read of any of them (each export is a Proxy of
 * the real one).
 */
function deferredModule(url: string, names: readonly string[]): string[] {
  const path = JSON.stringify(fileURLToPath(url));
  return [
    `import { createRequire } from 'node:module';`,
    `let loaded;`,
    `const load = () => (loaded ??= createRequire(${path})(${path}));`,
    `const deferred = (name) => new Proxy(function () {}, {`,
    `  apply: (_, self, args) => Reflect.apply(load()[name], self, args),`,
    `  construct: (_, args) => Reflect.construct(load()[name], args),`,
    `  get: (_, key) => Reflect.get(load()[name], key),`,
    `});`,
    ...names.map((name) => `export const ${name} = deferred(${JSON.stringify(name)});`),
  ];
}

function javascript(lines: readonly string[]): { url: string; shortCircuit: true } {
  return { url: `data:text/javascript,${encodeURIComponent(lines.join('\n'))}`, shortCircuit: true };
}
