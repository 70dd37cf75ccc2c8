// What is reloaded in place, for workloads with the reload strategy: the
// workload's confighash.dev/reloaded mark against its reloaded sources now. First
// seen, the mark is recorded (its pods started with them); a difference is a
// reload, handed to the reload tracker to follow to its end.
import {
  currentFingerprint,
  formatBaseline,
  parseBaseline,
  RELOADED_ANNOTATION,
  type Stamp,
  type Subject,
  type ValueHasher,
  verify,
} from '../checksum/index.ts';
import type { SourceStore } from '../sources/store.ts';
import type { WorkloadPatcher } from '../workloads/patcher.ts';
import type { ReloadTracker } from './reload-tracker.ts';
import type { WorkloadRecord } from './workload-store.ts';

export interface ReloadMarksOptions {
  hasher: ValueHasher;
  sources: Pick<SourceStore, 'state'>;
  patcher: Pick<WorkloadPatcher, 'patch'>;
  reloads?: Pick<ReloadTracker, 'track'> | undefined;
}

export class ReloadMarks {
  readonly #options: ReloadMarksOptions;

  constructor(options: ReloadMarksOptions) {
    this.#options = options;
  }

  /** Records the mark, or hands a reload to the tracker; nothing when the mark is current. */
  async reconcile(record: WorkloadRecord): Promise<void> {
    const current = this.stamp(record);
    if (!current) return;
    const mark = parseBaseline(record.reloadedMark);
    const verdict = mark && verify(this.#options.hasher, mark, this.#subject(record));
    if (verdict?.kind === 'current') return;
    if (mark && verdict?.kind === 'changed') {
      this.#options.reloads?.track(record, current, mark.sources);
      return;
    }
    await this.#options.patcher.patch(record, {
      metadata: { annotations: { [RELOADED_ANNOTATION]: formatBaseline(current) } },
    });
  }

  /** The reloaded sources' stamp now, from the stores; undefined for a workload that reloads nothing. */
  stamp(record: WorkloadRecord): Stamp | undefined {
    return record.reload ? currentFingerprint(this.#options.hasher, this.#subject(record))?.stamp : undefined;
  }

  #subject(record: WorkloadRecord): Subject {
    const { sources } = this.#options;
    return {
      namespace: record.namespace,
      sources: record.reload?.sources ?? [],
      stateOf: (id) => sources.state(record.namespace, id),
    };
  }
}
