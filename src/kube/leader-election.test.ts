import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { sleep } from '../time/sleep.ts';
import { ApiRequestError } from './raw.ts';
import { type Lease, type LeaseClient, LeaderElector } from './leader-election.ts';
import { until } from '../../test/support/until.ts';

const logger = pino({ level: 'silent' });

/** Leases in memory with the apiserver's optimistic concurrency: a stale replace is a 409. */
class FakeLeases implements LeaseClient {
  lease: Lease | undefined;
  replaces = 0;
  failing = false;
  #version = 0;

  async get(): Promise<Lease | undefined> {
    this.#check();
    return this.lease && structuredClone(this.lease);
  }

  async create(lease: Lease): Promise<Lease> {
    this.#check();
    if (this.lease) throw new ApiRequestError(409, 'already exists');
    return this.#store(lease);
  }

  async replace(lease: Lease): Promise<Lease> {
    this.#check();
    if (lease.metadata.resourceVersion !== this.lease?.metadata.resourceVersion)
      throw new ApiRequestError(409, 'conflict');
    this.replaces++;
    return this.#store(lease);
  }

  #check(): void {
    if (this.failing) throw new ApiRequestError(503, 'apiserver unavailable');
  }

  #store(lease: Lease): Lease {
    this.lease = {
      ...structuredClone(lease),
      metadata: { ...lease.metadata, resourceVersion: String(++this.#version) },
    };
    return structuredClone(this.lease);
  }
}

function elector(
  leases: LeaseClient,
  identity: string,
  overrides: Partial<ConstructorParameters<typeof LeaderElector>[0]> = {},
): LeaderElector {
  return new LeaderElector({
    leases,
    name: 'lock',
    identity,
    leaseDurationMs: 150,
    renewDeadlineMs: 100,
    retryPeriodMs: 5,
    logger,
    ...overrides,
  });
}

describe('LeaderElector', () => {
  it('renews thousands of times without piling up abort listeners (soak)', async () => {
    const leases = new FakeLeases();
    let signal: AbortSignal | undefined;
    const leader = elector(leases, 'a', {
      retryPeriodMs: 0,
      wait: (ms, s) => {
        signal = s;
        return sleep(ms, s);
      },
    });
    assert.equal(await leader.acquire(() => assert.fail('lost leadership')), true);
    await until(() => leases.replaces >= 2000, '2000 renewals');
    assert.ok(signal);
    assert.ok(
      getEventListeners(signal, 'abort').length <= 1,
      `${getEventListeners(signal, 'abort').length} abort listeners`,
    );
    await leader.stop();
  });

  it('does not take a lease another replica renews, and takes it once that replica stops renewing', async () => {
    const leases = new FakeLeases();
    const first = elector(leases, 'a');
    await first.acquire(() => undefined);
    // The second replica's tries, counted: 60 of them, 5 ms apart, span two lease durations.
    let tries = 0;
    const second = elector(leases, 'b', {
      wait: (ms, s) => {
        tries++;
        return sleep(ms, s);
      },
    });
    let secondLeads = false;
    void second.acquire(() => undefined).then((leading) => (secondLeads = leading));
    await until(() => tries >= 60, 'the second replica to try for two lease durations');
    assert.equal(secondLeads, false, 'took a lease that was being renewed');
    assert.equal(leases.lease?.spec.holderIdentity, 'a');

    leases.failing = true;
    await until(() => !first.leading, 'the first replica to give up');
    leases.failing = false;
    await until(() => secondLeads, 'the second replica to lead');
    assert.equal(leases.lease.spec.holderIdentity, 'b');
    assert.equal(leases.lease.spec.leaseTransitions, 1);
    await second.stop();
  });

  it('calls onLost when it cannot renew within the renew deadline', async () => {
    const leases = new FakeLeases();
    const leader = elector(leases, 'a');
    let lost = 0;
    await leader.acquire(() => lost++);
    leases.failing = true;
    await until(() => lost === 1, 'onLost');
    assert.equal(leader.leading, false);
    await leader.stop();
    assert.equal(lost, 1);
  });

  it('releases the lease on stop, so a successor need not wait for it to expire', async () => {
    const leases = new FakeLeases();
    const leader = elector(leases, 'a', { leaseDurationMs: 60_000 });
    await leader.acquire(() => undefined);
    await leader.stop();
    assert.equal(leases.lease?.spec.holderIdentity, '');
    const successor = elector(leases, 'b', { leaseDurationMs: 60_000 });
    assert.equal(await successor.acquire(() => undefined), true);
    await successor.stop();
  });

  it('stops leading when the renew deadline passes, even while an attempt is still unanswered', async () => {
    const leases = new FakeLeases();
    const leader = elector(leases, 'a', { renewDeadlineMs: 100 });
    let lost = 0;
    await leader.acquire(() => lost++);
    // The API server stops answering: every request hangs (never settles within the test).
    let hung = 0;
    const hang = (): Promise<never> => {
      hung++;
      return new Promise<never>(() => undefined);
    };
    leases.get = hang;
    await until(() => lost === 1, 'onLost while the renewal hangs');
    assert.equal(hung, 1, 'given up on the one attempt under way, not after it');
    assert.equal(leader.leading, false);
  });
});
