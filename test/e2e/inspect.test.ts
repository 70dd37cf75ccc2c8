// `kubectl confighash status` and `explain`, run as a kubectl plugin, on a
// namespace holding a workload in each state.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { startConfighashForTest } from '../support/confighash.ts';
import { apply, kubectl, testNamespace } from '../support/kube.ts';
import { configMap, workload } from '../support/workloads.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'confighash');

interface Report {
  name: string;
  state: string;
  sources: { id: string; keys: string[] | '*'; referencedBy: string[]; stored?: string; current: string }[];
}

/** Runs `kubectl confighash ARGS` with the plugin on PATH; resolves with exit code and stdout. */
async function plugin(args: string[], pluginDir: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      'kubectl',
      ['confighash', ...args],
      { env: { ...process.env, PATH: `${pluginDir}${delimiter}${process.env['PATH'] ?? ''}` } },
      (error, stdout) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout });
      },
    );
  });
}

describe('kubectl confighash', () => {
  it('reports current, pending, missing-source and ignored workloads, and explains one', async (t) => {
    const pluginDir = await mkdtemp(join(tmpdir(), 'confighash-plugin-'));
    t.after(() => rm(pluginDir, { recursive: true, force: true }));
    await symlink(BIN, join(pluginDir, 'kubectl-confighash'));
    // A long coalescing window keeps the pending workload pending while we look.
    await startConfighashForTest(t, ['--coalesce-window=10m']);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    const from = (name: string): object => ({ envFrom: [{ configMapRef: { name } }] });
    await apply(
      ns,
      configMap('settled', { a: '1' }),
      configMap('edited', { a: '1' }),
      workload('Deployment', 'current', from('settled')),
      workload('Deployment', 'pending', from('edited')),
      workload('StatefulSet', 'missing', from('absent')),
      workload('DaemonSet', 'ignored', from('settled'), { annotations: { 'confighash.dev/ignore': 'true' } }),
    );
    await kubectl(['patch', 'configmap', 'edited', '-n', ns, '--type=merge', '-p', '{"data":{"a":"2"}}']);

    const status = await plugin(['status', '-A', '-o', 'json'], pluginDir);
    assert.equal(status.code, 0);
    const reports = (JSON.parse(status.stdout) as (Report & { namespace: string })[]).filter((r) => r.namespace === ns);
    const states = Object.fromEntries(reports.map((r) => [r.name, r.state]));
    assert.deepEqual(states, { current: 'current', pending: 'pending', missing: 'missing-source', ignored: 'ignored' });

    const all = await plugin(['status', '-A', '--check'], pluginDir);
    assert.equal(all.code, 1, 'exit 1 with --check when something is pending or missing');
    assert.match(all.stdout, new RegExp(`${ns}\\s+deployment/pending\\s+pending`));

    const explained = await plugin(['explain', 'deploy/pending', '-n', ns, '-o', 'json'], pluginDir);
    const report = JSON.parse(explained.stdout) as Report;
    assert.equal(report.state, 'pending');
    const [source] = report.sources;
    assert.equal(source?.id, 'configmap/edited');
    assert.equal(source.keys, '*');
    assert.deepEqual(source.referencedBy, ['containers[app].envFrom']);
    assert.match(source.stored ?? '', /^[0-9a-f]{12}$/);
    assert.match(source.current, /^[0-9a-f]{12}$/);
    assert.notEqual(source.stored, source.current);

    const table = await plugin(['explain', 'deployment/pending', '-n', ns], pluginDir);
    assert.match(
      table.stdout,
      /^Deployment .*\/pending: pending\n\nSOURCE\s+KEYS\s+REFERENCED BY\s+STORED\s+CURRENT\nconfigmap\/edited\s+\*\s+containers\[app\]\.envFrom/,
    );
  });
});
