import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsumedSource } from './consumed-source.ts';
import { consumedSources, type PodSpecLike, parseSourceList } from './sources.ts';

/** id → 'all' or the sorted consumed keys, for compact assertions. */
function summary(sources: ConsumedSource[]): Record<string, string | string[]> {
  return Object.fromEntries(sources.map((s) => [s.id, s.keys.all ? 'all' : [...s.keys.keys].sort()]));
}

describe('consumedSources', () => {
  it('reads env keyRefs as that one key, for containers and initContainers', () => {
    const spec: PodSpecLike = {
      initContainers: [{ name: 'init', env: [{ valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }],
      containers: [
        {
          name: 'app',
          env: [
            { valueFrom: { configMapKeyRef: { name: 'app', key: 'LOG_LEVEL' } } },
            { valueFrom: { configMapKeyRef: { name: 'app', key: 'MODE' } } },
          ],
        },
      ],
    };
    assert.deepEqual(summary(consumedSources(spec)), {
      'configmap/app': ['LOG_LEVEL', 'MODE'],
      'secret/db': ['password'],
    });
  });

  it('reads envFrom as every key', () => {
    const spec: PodSpecLike = {
      containers: [{ name: 'app', envFrom: [{ configMapRef: { name: 'app' } }, { secretRef: { name: 'db' } }] }],
    };
    assert.deepEqual(summary(consumedSources(spec)), { 'configmap/app': 'all', 'secret/db': 'all' });
  });

  it('reads volumes as every key, or only the keys listed in items', () => {
    const spec: PodSpecLike = {
      volumes: [
        { name: 'a', configMap: { name: 'whole' } },
        { name: 'b', configMap: { name: 'part', items: [{ key: 'x.yaml' }] } },
        { name: 'c', secret: { secretName: 'tls' } },
        { name: 'd', secret: { secretName: 'creds', items: [{ key: 'user' }, { key: 'pass' }] } },
        { name: 'e', configMap: { name: 'empty-items', items: [] } },
      ],
    };
    assert.deepEqual(summary(consumedSources(spec)), {
      'configmap/empty-items': 'all',
      'configmap/part': ['x.yaml'],
      'configmap/whole': 'all',
      'secret/creds': ['pass', 'user'],
      'secret/tls': 'all',
    });
  });

  it('reads projected volume sources likewise', () => {
    const spec: PodSpecLike = {
      volumes: [
        {
          name: 'p',
          projected: {
            sources: [{ configMap: { name: 'app', items: [{ key: 'k' }] } }, { secret: { name: 'db' } }, {}],
          },
        },
      ],
    };
    assert.deepEqual(summary(consumedSources(spec)), { 'configmap/app': ['k'], 'secret/db': 'all' });
  });

  it('merges references to one object: union of keys, and every key wins', () => {
    const spec: PodSpecLike = {
      containers: [
        { name: 'a', env: [{ valueFrom: { configMapKeyRef: { name: 'app', key: 'A' } } }] },
        { name: 'b', env: [{ valueFrom: { configMapKeyRef: { name: 'app', key: 'B' } } }] },
        { name: 'c', env: [{ valueFrom: { secretKeyRef: { name: 'db', key: 'user' } } }] },
      ],
      volumes: [{ name: 'db', secret: { secretName: 'db' } }],
    };
    const sources = consumedSources(spec);
    assert.deepEqual(summary(sources), { 'configmap/app': ['A', 'B'], 'secret/db': 'all' });
    assert.deepEqual(sources.find((s) => s.id === 'secret/db')?.sites, ['containers[c].env', 'volumes[db]']);
  });

  it('keeps ConfigMaps and Secrets of the same name apart', () => {
    const spec: PodSpecLike = {
      containers: [{ name: 'app', envFrom: [{ configMapRef: { name: 'same' } }, { secretRef: { name: 'same' } }] }],
    };
    assert.deepEqual(Object.keys(summary(consumedSources(spec))), ['configmap/same', 'secret/same']);
  });

  it('adds include (every key) and removes exclude', () => {
    const spec: PodSpecLike = {
      containers: [{ name: 'app', envFrom: [{ configMapRef: { name: 'app' } }, { secretRef: { name: 'noisy' } }] }],
    };
    const annotations = {
      'confighash.dev/include': 'configmap/extra, secret/tls',
      'confighash.dev/exclude': 'secret/noisy',
    };
    assert.deepEqual(summary(consumedSources(spec, annotations)), {
      'configmap/app': 'all',
      'configmap/extra': 'all',
      'secret/tls': 'all',
    });
  });

  it('ignores references without a name, and tolerates null and empty fields', () => {
    const spec = {
      containers: [
        { name: 'app', env: [{ value: 'x' }, { valueFrom: { fieldRef: {} } }], envFrom: [{ configMapRef: {} }] },
      ],
      initContainers: null,
      volumes: [
        { name: 'tmp', emptyDir: {} },
        { name: 's', secret: {} },
      ],
    } as unknown as PodSpecLike;
    assert.deepEqual(consumedSources(spec), []);
    assert.deepEqual(consumedSources({}), []);
  });

  it('returns sources sorted by id, whatever the order of references', () => {
    const spec: PodSpecLike = {
      containers: [
        {
          name: 'app',
          envFrom: [{ secretRef: { name: 'b' } }, { configMapRef: { name: 'z' } }, { configMapRef: { name: 'a' } }],
        },
      ],
    };
    assert.deepEqual(
      consumedSources(spec).map((s) => s.id),
      ['configmap/a', 'configmap/z', 'secret/b'],
    );
  });
});

describe('parseSourceList', () => {
  it('accepts kinds in any case and cm/ for ConfigMaps, and skips malformed entries', () => {
    assert.deepEqual(parseSourceList(' ConfigMap/a ,cm/b, SECRET/c.d, pod/x, secret/, bad, secret/Upper'), [
      'configmap/a',
      'configmap/b',
      'secret/c.d',
    ]);
    assert.deepEqual(parseSourceList(undefined), []);
    assert.deepEqual(parseSourceList(''), []);
  });
});

describe('optional references', () => {
  it('make a source optional only when every reference to it is optional', () => {
    const spec = {
      containers: [
        {
          name: 'app',
          envFrom: [{ configMapRef: { name: 'flags', optional: true } }, { secretRef: { name: 'db' } }],
          env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'x', optional: true } } }],
        },
      ],
      volumes: [
        { name: 'a', configMap: { name: 'files', optional: true } },
        { name: 'b', secret: { secretName: 'tls', optional: true } },
      ],
    };
    const optional = Object.fromEntries(
      consumedSources(spec, { 'confighash.dev/include': 'configmap/extra' }).map((s) => [s.id, s.optional]),
    );
    assert.deepEqual(optional, {
      'configmap/extra': true,
      'configmap/files': true,
      'configmap/flags': true,
      'secret/db': false,
      'secret/tls': true,
    });
  });
});
