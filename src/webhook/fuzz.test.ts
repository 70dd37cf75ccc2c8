// Fuzzing what a tenant writes: the AdmissionReview (and the whole admission
// path behind it) and every annotation parser, with random text and with
// mutations of valid inputs, seeded (CONFIGHASH_FUZZ_SEED to replay a failure)
// and bounded in count and size. Each input must be answered without an
// exception escaping, well-formed, and within a time bound: the inputs that once
// froze the process took seconds, a parsed input takes microseconds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { hasherWith } from '../../test/support/hasher.ts';
import {
  boundedAnnotations,
  consumedSources,
  isReloaderWorkload,
  parseBaseline,
  parseReloadTrigger,
  parseSourceList,
  parseSourcesSummary,
  reloadDecision,
  trackingAnnotations,
} from '../checksum/index.ts';
import { parseDuration } from '../time/duration.ts';
import { lastReport } from '../workloads/agent-status.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { rolloutPolicy } from '../policy/gate.ts';
import { parseSchedule, windowState } from '../policy/window.ts';
import { AdmissionHandler } from './handler.ts';
import { BadReviewError, parseAdmissionReview } from './review.ts';

const SEED = Number(process.env['CONFIGHASH_FUZZ_SEED'] ?? 20261207);
const INPUTS = 1500;
/** Far above what a parsed input takes, far below what the bugs it guards against took (seconds). */
const MAX_MS_PER_INPUT = 250;
const MAX_LENGTH = 64 * 1024;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters the parsers treat specially, and some they should not meet (NUL, a combining emoji). */
const ALPHABET: readonly string[] = Array.from('abcXYZ019 ;,:-=/.()!<>[]*_\\"\'{}\n\t\u0000\u00e9SIGHUPMonSat').concat([
  '\u{1F600}',
  '\u{1F469}\u200d\u{1F4BB}',
]);

class Inputs {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = random(seed);
  }

  int(below: number): number {
    return Math.floor(this.#next() * below);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  text(max = 200): string {
    return Array.from({ length: this.int(max) }, () => this.pick(ALPHABET)).join('');
  }

  /** A valid input changed: cut, doubled, spliced with noise, or repeated up to MAX_LENGTH. */
  mutated(valid: string): string {
    const at = this.int(valid.length + 1);
    switch (this.int(6)) {
      case 0:
        return valid.slice(0, at);
      case 1:
        return valid.slice(0, at) + this.text(20) + valid.slice(at);
      case 2:
        return valid + valid;
      case 3:
        return valid.repeat(Math.max(1, Math.floor(MAX_LENGTH / Math.max(1, valid.length)))).slice(0, MAX_LENGTH);
      case 4:
        return valid.replaceAll(this.pick(Array.from(valid || 'x')), this.pick(ALPHABET));
      default:
        return this.text(2000);
    }
  }

  /** Random or mutated-valid, half each. */
  of(valid: readonly string[]): string {
    return this.int(2) === 0 ? this.text() : this.mutated(this.pick(valid));
  }
}

/** Runs `check` on INPUTS inputs, each within the time bound; a failure names its seed and index. */
function fuzz(name: string, make: (inputs: Inputs) => unknown, check: (input: never) => void): void {
  const inputs = new Inputs(
    SEED ^ Array.from(name).reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261),
  );
  for (let i = 0; i < INPUTS; i++) {
    const input = make(inputs);
    const started = performance.now();
    try {
      check(input as never);
    } catch (error) {
      assert.fail(
        `${name} #${i} (CONFIGHASH_FUZZ_SEED=${SEED}): ${(error as Error).stack ?? String(error)}\ninput: ${JSON.stringify(input).slice(0, 500)}`,
      );
    }
    const tookMs = performance.now() - started;
    assert.ok(
      tookMs < MAX_MS_PER_INPUT,
      `${name} #${i} (CONFIGHASH_FUZZ_SEED=${SEED}) took ${tookMs.toFixed(1)} ms: ${JSON.stringify(input).slice(0, 200)}`,
    );
  }
}

const WINDOWS = ['Sat,Sun 02:00-05:00; Mon-Fri 22:00-23:30', 'Fri 22:00-02:00', 'mon-sun 00:00-24:00'];
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'];
const DURATIONS = ['10m', '1h30m', '500ms', '720h', '0'];
const LISTS = ['configmap/a, secret/b', 'cm/app,secret/db-password', 'configmap/x'];
const TRIGGERS = ['signal:SIGHUP', 'signal:SIGUSR1', 'http://127.0.0.1:9090/-/reload'];
const STAMPS = ['v2:3f9a01bc:0123 configmap/app=1f3a9c0e2b7d', 'configmap/app=1f3a9c0e2b7d,secret/db=missing'];
const STATUS = JSON.stringify({
  msg: 'agent status',
  status: { state: 'current', reloads: 1, startedAt: '2026-12-07T10:00:00.000Z' },
});

const POD_SPEC = {
  containers: [
    {
      name: 'app',
      envFrom: [{ configMapRef: { name: 'app' } }],
      volumeMounts: [{ name: 'config', mountPath: '/etc/app' }],
    },
  ],
  volumes: [{ name: 'config', configMap: { name: 'app' } }],
};
const ANNOTATION_KEYS = [
  'confighash.dev/rollout-window',
  'confighash.dev/rollout-timezone',
  'confighash.dev/min-interval',
  'confighash.dev/wait-for-rollout',
  'confighash.dev/include',
  'confighash.dev/exclude',
  'confighash.dev/reload',
  'confighash.dev/reload-container',
  'confighash.dev/reload-fallback',
  'reloader.stakater.com/auto',
  'reloader.stakater.com/search',
  'configmap.reloader.stakater.com/reload',
  'secret.reloader.stakater.com/reload',
  'configmaps.exclude.reloader.stakater.com/reload',
];

function annotations(inputs: Inputs): Record<string, string> {
  const valid = [...WINDOWS, ...DURATIONS, ...LISTS, ...TRIGGERS, 'true', 'false', 'rollout'];
  return Object.fromEntries(
    Array.from({ length: 1 + inputs.int(6) }, () => [inputs.pick(ANNOTATION_KEYS), inputs.of(valid)]),
  );
}

describe('fuzzing the annotation parsers (seeded, bounded)', () => {
  it('rollout windows: parsed or refused with a message, and a decision for what parses', () => {
    fuzz(
      'rollout-window',
      (i) => ({ text: i.of(WINDOWS), zone: i.int(4) === 0 ? i.text(80) : i.pick(ZONES) }),
      ({ text, zone }: { text: string; zone: string }) => {
        const parsed = parseSchedule(text, zone);
        if ('error' in parsed) {
          assert.equal(typeof parsed.error, 'string');
          assert.ok(parsed.error.length < 1000, 'the message does not carry the input');
        } else {
          const state = windowState(parsed, new Date('2026-12-07T10:00:00Z'));
          assert.ok(state.open || state.opensAt.getTime() > Date.parse('2026-12-07T10:00:00Z'));
        }
      },
    );
  });

  it('rollout policies (and durations): a policy and its problems, never an exception', () => {
    fuzz('rollout-policy', annotations, (written: Record<string, string>) => {
      const policy = rolloutPolicy(written, {});
      assert.ok(Array.isArray(policy.problems));
      if (policy.minIntervalMs === undefined) return;
      assert.ok(Number.isFinite(policy.minIntervalMs), String(policy.minIntervalMs));
      assert.ok(policy.minIntervalMs >= 0, String(policy.minIntervalMs));
    });
    fuzz(
      'duration',
      (i) => i.of(DURATIONS),
      (text: string) => {
        try {
          assert.ok(parseDuration(text) >= 0);
        } catch (error) {
          assert.match((error as Error).message, /^invalid duration/);
        }
      },
    );
  });

  it('source lists, triggers, stamps and summaries: values or nothing', () => {
    fuzz(
      'source-list',
      (i) => i.of(LISTS),
      (text: string) => {
        for (const id of parseSourceList(text)) assert.match(id, /^(configmap|secret)\/[a-z0-9][a-z0-9.-]*$/);
      },
    );
    fuzz(
      'reload-trigger',
      (i) => i.of(TRIGGERS),
      (text: string) => {
        const trigger = parseReloadTrigger(text);
        assert.ok(
          trigger === undefined ||
            (trigger.kind === 'signal'
              ? /^SIG[A-Z0-9]+$/.test(trigger.signal)
              : trigger.url.startsWith('http://127.0.0.1:')),
        );
      },
    );
    fuzz(
      'stamp',
      (i) => i.of(STAMPS),
      (text: string) => {
        const stamp = parseBaseline(text);
        assert.ok(stamp === undefined || typeof stamp.sources === 'string');
        assert.ok(parseSourcesSummary(text) instanceof Map);
      },
    );
    fuzz(
      'agent-status',
      (i) => i.of([STATUS, `${STATUS}\n${STATUS}`]),
      (text: string) => {
        const report = lastReport(text);
        if (report === undefined) return;
        assert.equal(typeof report.startedAt, 'string');
        assert.ok((report.lastError ?? '').length <= 300, `an error of ${(report.lastError ?? '').length} characters`);
      },
    );
  });

  it("a workload's annotations together: bounded, and what they decide about its sources and its reload", () => {
    fuzz('workload-annotations', annotations, (written: Record<string, string>) => {
      const { kept } = boundedAnnotations(written);
      const tracking = trackingAnnotations('Deployment', kept, true);
      assert.ok(consumedSources(POD_SPEC, tracking, new Set()).length <= 1 + 256 * 4);
      assert.ok(['none', 'plan', 'unusable'].includes(reloadDecision(POD_SPEC, tracking).kind));
      assert.equal(typeof isReloaderWorkload(tracking), 'boolean');
    });
  });
});

describe('fuzzing the admission path (seeded, bounded)', () => {
  const handler = new AdmissionHandler({
    reader: { read: async (_namespace, sources) => new Map(sources.map((s) => [s.id, { exists: false }])) },
    hasher: hasherWith(Buffer.alloc(32, 7)),
    logger: pino({ level: 'silent' }),
    metrics: new Metrics(new Registry()),
    scope: { lookUp: () => Promise.resolve({ defaults: {} }) },
    deadlineMs: 1000,
    agentImage: 'confighash:fuzz',
  });
  const valid = (written: Record<string, string>, spec: unknown): unknown => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      operation: 'CREATE',
      namespace: 'app',
      name: 'web',
      object: { metadata: { name: 'web', annotations: written }, spec: { template: { metadata: {}, spec } } },
    },
  });

  it('reviews: refused as a bad review, or answered allowed, with a well-formed patch', async () => {
    const inputs = new Inputs(SEED);
    for (let i = 0; i < INPUTS; i++) {
      const body = mutatedReview(
        inputs,
        valid(annotations(inputs), inputs.int(3) === 0 ? { containers: inputs.text(10) } : POD_SPEC),
      );
      const started = performance.now();
      let request;
      try {
        request = parseAdmissionReview(body);
      } catch (error) {
        assert.ok(
          error instanceof BadReviewError,
          `#${i} (CONFIGHASH_FUZZ_SEED=${SEED}): ${(error as Error).stack ?? ''}`,
        );
        continue;
      }
      const response = await handler.admit(request);
      assert.equal(response.allowed, true, `#${i}`);
      assert.equal(response.uid, request.uid);
      if (response.patch) assert.ok(Array.isArray(JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'))));
      for (const warning of response.warnings ?? [])
        assert.ok(warning.length < 2000, `#${i}: a warning of ${warning.length} characters`);
      const tookMs = performance.now() - started;
      assert.ok(tookMs < MAX_MS_PER_INPUT, `#${i} (CONFIGHASH_FUZZ_SEED=${SEED}) took ${tookMs.toFixed(1)} ms`);
    }
  });
});

/** A review with one part replaced by a random value of another type, or left as it is. */
function mutatedReview(inputs: Inputs, review: unknown): unknown {
  const copy = structuredClone(review) as Record<string, unknown>;
  const paths = [
    ['request', 'object', 'metadata', 'annotations'],
    ['request', 'object', 'spec'],
    ['request', 'kind'],
    ['request', 'operation'],
    ['request', 'object'],
    ['request'],
  ];
  if (inputs.int(3) === 0) return copy;
  const path = inputs.pick(paths);
  let parent: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) parent = (parent[key] ?? {}) as Record<string, unknown>;
  const values: unknown[] = [null, 7, inputs.text(30), [inputs.text(5)], { [inputs.text(5)]: inputs.text(5) }, true];
  parent[path[path.length - 1] ?? ''] = inputs.pick(values);
  return copy;
}
