// What the chat sinks show of a notice, whatever their markup: a title, the
// summary, and labelled facts. One wording for Slack, Teams and Google Chat.
import { isWarning, type Notice, type NoticeType, shortChecksum } from '../notice.ts';

const TITLES: Record<NoticeType, string> = {
  'rollout.started': 'Rolling out new configuration',
  'rollout.completed': 'Configuration rolled out',
  'rollout.failed': 'Configuration rollout failed',
  'rollout.deferred': 'Configuration rollout deferred',
  'reload.succeeded': 'Configuration reloaded in place',
  'reload.failed': 'Configuration reload failed',
  'source.missing': 'Configuration source missing',
};

/** Facts listed at most; the rest are counted. */
const MAX_CHANGES = 10;

export interface Fact {
  label: string;
  value: string;
}

export interface NoticeText {
  title: string;
  /** `Deployment shop/web` */
  workload: string;
  summary: string;
  facts: Fact[];
  warning: boolean;
}

export function noticeText(notice: Notice): NoticeText {
  const { workload } = notice;
  return {
    title: `${isWarning(notice.type) ? '⚠ ' : ''}${TITLES[notice.type]}`,
    workload: `${workload.kind} ${workload.namespace}/${workload.name}`,
    summary: notice.summary,
    facts: facts(notice),
    warning: isWarning(notice.type),
  };
}

function facts(notice: Notice): Fact[] {
  const changes = notice.changes ?? [];
  const more = changes.length - MAX_CHANGES;
  const listed: [string, string | undefined][] = [
    ['Workload', `${notice.workload.kind} ${notice.workload.namespace}/${notice.workload.name}`],
    ...changes.slice(0, MAX_CHANGES).map((change): [string, string] => ['Changed', describeChange(change)]),
    ['Changed', more > 0 ? `and ${more} more sources` : undefined],
    ...(notice.missing ?? []).map((missing): [string, string] => ['Missing', `${missing.source} (${missing.state})`]),
    ['Trigger', notice.trigger],
    ['Reason', notice.reason],
    ['Detail', notice.detail],
    ['Pods', notice.pods?.toString()],
    ['Duration', notice.durationSeconds === undefined ? undefined : `${notice.durationSeconds}s`],
    ['Checksum', notice.checksum && shortChecksum(notice.checksum)],
  ];
  return listed
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .map(([label, value]) => ({ label, value }));
}

function describeChange(change: {
  source: string;
  from: string | undefined;
  to: string | undefined;
  keys?: string[];
}): string {
  const keys = change.keys && change.keys.length > 0 ? `, keys ${change.keys.join(', ')}` : '';
  return `${change.source} (${change.from ?? 'untracked'} → ${change.to ?? 'untracked'}${keys})`;
}

/** A value shown in chat, at most this long: a reason or an agent's error is a tenant's text. */
const MAX_VALUE = 1000;

/**
 * `text` shown as itself in a chat whose markup `special` matches: each match is
 * escaped by `escape`, and the text is cut to MAX_VALUE. What a tenant writes (a
 * forged agent status, a hook's reason) then links nowhere and mentions no one.
 */
export function literal(text: string, special: RegExp, escape: (match: string) => string): string {
  const cut = text.length <= MAX_VALUE ? text : `${text.slice(0, MAX_VALUE - 1)}…`;
  return cut.replace(special, escape);
}
