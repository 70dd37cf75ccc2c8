// Leader election on a coordination.k8s.io/v1 Lease, after client-go's
// leaderelection: try to acquire or renew every retry period; a lease whose record
// has not changed for a lease duration (by this replica's own clock, so clock skew
// between replicas does not matter) may be taken over; a leader that cannot renew
// within the renew deadline stops leading. On shutdown the leader releases the
// lease so another replica takes over at once.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiStatus, describeApiError } from './errors.ts';
import { sleep } from '../time/sleep.ts';
import { apiPath, requestJson } from './raw.ts';

export interface LeaderElectionOptions {
  leases: LeaseClient;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  /** How the elector waits between attempts; tests observe it. */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** The Lease operations leader election needs, in one namespace. */
export interface LeaseClient {
  /** The lease, or undefined if it does not exist. */
  get(name: string): Promise<Lease | undefined>;
  create(lease: Lease): Promise<Lease>;
  /** Replaces the lease; rejects with a 409 if it changed since it was read. */
  replace(lease: Lease): Promise<Lease>;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const REQUEST_TIMEOUT_MS = 5_000;
/** The lease's connections are its own: a burst of other requests must not delay a renewal. */
const LEASE_POOL = 'lease';

export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  readonly #wait: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #stopped = new AbortController();
  #leading = false;
  #lastRenewal = 0;
  #attemptStartedAt = 0;
  /** Leadership was given up: a late answer to an attempt does not take it back. */
  #lost = false;
  /** The lease record last seen, and when this replica saw it change. */
  #observed: { record: string; at: number } | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#wait = options.wait ?? sleep;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /**
   * Campaigns until this replica leads (resolving), or until stop(); then keeps
   * renewing in the background, calling `onLost` if leadership is lost.
   */
  async acquire(onLost: () => void): Promise<boolean> {
    const { retryPeriodMs, logger, identity } = this.#options;
    while (!this.#stopped.signal.aborted && !(await this.#tryAcquireOrRenew())) {
      await this.#wait(retryPeriodMs, this.#stopped.signal);
    }
    if (this.#stopped.signal.aborted) return false;
    logger.info({ identity, lease: this.#options.name }, 'became leader');
    void this.#renewLoop(onLost);
    return true;
  }

  /** Stops campaigning or renewing, releasing the lease if held. */
  async stop(): Promise<void> {
    this.#stopped.abort();
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#get();
      if (lease?.spec.holderIdentity !== this.#options.identity) return;
      await this.#put({
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) },
      });
      this.#options.logger.info('released leadership');
    } catch (error) {
      this.#options.logger.warn(
        { err: describeApiError('release lease', error) },
        'could not release the lease; it expires on its own',
      );
    }
  }

  #isStopped(): boolean {
    return this.#stopped.signal.aborted;
  }

  /**
   * Renews until stopped. The renew deadline is a hard one: an attempt still
   * unanswered when it passes (a request can take its whole timeout) ends
   * leadership then, not when the attempt returns, so this replica never believes
   * it leads once another may have taken over.
   */
  async #renewLoop(onLost: () => void): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs, logger } = this.#options;
    while (!this.#isStopped()) {
      await this.#wait(retryPeriodMs, this.#stopped.signal);
      if (this.#isStopped()) return;
      const renewed = await this.#beforeDeadline(this.#tryAcquireOrRenew(), this.#lastRenewal + renewDeadlineMs);
      if (renewed === true) continue;
      // 'late' is the deadline itself: a timer may fire a millisecond before Date.now() says it is due.
      if (renewed === 'late' || Date.now() - this.#lastRenewal >= renewDeadlineMs || !this.#leading) {
        this.#leading = false;
        this.#lost = true;
        logger.error('lost leadership');
        onLost();
        return;
      }
    }
  }

  /** The attempt's outcome, or 'late' if the deadline (ms since epoch) passes first. */
  async #beforeDeadline(attempt: Promise<boolean>, deadline: number): Promise<boolean | 'late'> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>(
      (resolve) =>
        (timer = setTimeout(
          () => {
            resolve('late');
          },
          Math.max(0, deadline - Date.now()),
        )),
    );
    try {
      return await Promise.race([attempt, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One attempt; true if this replica holds the lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { identity, leaseDurationMs, logger } = this.#options;
    const now = new Date();
    this.#attemptStartedAt = now.getTime();
    try {
      const lease = await this.#get();
      if (!lease) return this.#won(await this.#create(now));
      this.#observe(lease);
      const held = lease.spec.holderIdentity === identity;
      if (!held && lease.spec.holderIdentity && !this.#expired(leaseDurationMs)) return false;
      const spec = {
        ...lease.spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        renewTime: microTime(now),
        ...(held ? {} : { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }),
      };
      return this.#won(await this.#put({ ...lease, spec }));
    } catch (error) {
      if (apiStatus(error) !== 409)
        logger.warn({ err: describeApiError('acquire or renew lease', error) }, 'leader election attempt failed');
      return false;
    }
  }

  #won(lease: Lease): boolean {
    // An answer that came after leadership was given up does not bring it back.
    if (this.#lost) return false;
    this.#leading = true;
    // The renewal counts from when it was sent: the lease says renewTime = then.
    this.#lastRenewal = this.#attemptStartedAt;
    this.#observe(lease);
    return true;
  }

  #observe(lease: Lease): void {
    const record = JSON.stringify(lease.spec);
    if (this.#observed?.record !== record) this.#observed = { record, at: Date.now() };
  }

  #expired(leaseDurationMs: number): boolean {
    return this.#observed === undefined || Date.now() - this.#observed.at > leaseDurationMs;
  }

  #get(): Promise<Lease | undefined> {
    return this.#options.leases.get(this.#options.name);
  }

  #create(now: Date): Promise<Lease> {
    const { name, identity, leaseDurationMs } = this.#options;
    return this.#options.leases.create({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      },
    });
  }

  /** Replaces the lease; a 409 if it changed since it was read. */
  #put(lease: Lease): Promise<Lease> {
    return this.#options.leases.replace(lease);
  }
}

/** Leases in `namespace` over the API server, as raw JSON (a MicroTime must keep its six digits). */
export function apiLeaseClient(config: KubeConfig, namespace: string): LeaseClient {
  const base = apiPath('/apis/coordination.k8s.io/v1', 'namespaces', namespace, 'leases');
  const path = (name: string): string => apiPath(base, name);
  return {
    async get(name) {
      try {
        return await requestJson<Lease>(config, {
          method: 'GET',
          path: path(name),
          timeoutMs: REQUEST_TIMEOUT_MS,
          pool: LEASE_POOL,
        });
      } catch (error) {
        if (apiStatus(error) === 404) return undefined;
        throw error;
      }
    },
    create: (lease) =>
      requestJson<Lease>(config, {
        method: 'POST',
        path: base,
        body: { ...lease, metadata: { ...lease.metadata, namespace } },
        timeoutMs: REQUEST_TIMEOUT_MS,
        pool: LEASE_POOL,
      }),
    replace: (lease) =>
      requestJson<Lease>(config, {
        method: 'PUT',
        path: path(lease.metadata.name),
        body: lease,
        timeoutMs: REQUEST_TIMEOUT_MS,
        pool: LEASE_POOL,
      }),
  };
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
