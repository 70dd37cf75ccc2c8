// The resourceVersions of its sources that the stamp this replica last wrote on a
// workload was computed from, so that the workload's next rollout can be decided
// from the stores, without reading its sources live again.
//
// Before it rolls, the controller reads a workload's sources live: its stores follow
// watches, a stamp the webhook wrote from live reads can be newer than what they
// hold, and rolling from them then would move the stamp backwards (and roll twice).
// That read is needed only while the stores may be behind the stamp. When the
// template still carries the stamp this replica wrote (the same checksum at the same
// generation: nobody has changed the workload's spec since), and the stores hold
// every source it covers at or after the resourceVersion it was computed from
// (resourceVersions are ordered, see kube/resource-version.ts), they are not behind
// it: what they hold is newer, and is what rolls.
//
// Anything else reads live as before: another writer's stamp, a source that did not
// exist or that the stores no longer hold, a resourceVersion that is not ordered, a
// restart or a new leader (nothing is remembered). One entry per workload this
// replica rolled, forgotten with the workload.
import type { ConsumedSource, SourceId, StateOf } from '../checksum/index.ts';
import { compareResourceVersions } from '../kube/resource-version.ts';
import type { WorkloadRecord } from './workload-store.ts';

interface StampOrigin {
  checksum: string;
  generation: number;
  /** Per source the stamp covers, the resourceVersion its digest was computed from. */
  versions: ReadonlyMap<SourceId, string>;
}

export class StampOrigins {
  readonly #origins = new Map<string, StampOrigin>();

  /**
   * Remembers that the workload, at `generation` (as the patch left it), carries
   * `checksum` computed from `sources` as `stateOf` has them; nothing when a source
   * did not exist or its resourceVersion is not known.
   */
  record(
    key: string,
    { checksum, generation }: { checksum: string; generation: number | undefined },
    sources: readonly Pick<ConsumedSource, 'id'>[],
    stateOf: StateOf,
  ): void {
    this.#origins.delete(key);
    const versions = new Map<SourceId, string>();
    for (const { id } of sources) {
      const state = stateOf(id);
      if (!state.exists || !state.resourceVersion) return;
      versions.set(id, state.resourceVersion);
    }
    if (generation !== undefined) this.#origins.set(key, { checksum, generation, versions });
  }

  forget(key: string): void {
    this.#origins.delete(key);
  }

  /** Whether the stores (`stateOf`) hold every source of the workload's stamp at or after the version it was computed from. */
  storesCaughtUp(
    record: Pick<WorkloadRecord, 'key' | 'stamped' | 'generation'> & { sources: readonly Pick<ConsumedSource, 'id'>[] },
    stateOf: StateOf,
  ): boolean {
    const origin = this.#origins.get(record.key);
    if (!origin || origin.checksum !== record.stamped.checksum || origin.generation !== record.generation) return false;
    if (origin.versions.size !== record.sources.length) return false;
    return record.sources.every(({ id }) => {
      const read = origin.versions.get(id);
      const state = stateOf(id);
      if (read === undefined || !state.exists || !state.resourceVersion) return false;
      return (compareResourceVersions(state.resourceVersion, read) ?? -1) >= 0;
    });
  }
}
