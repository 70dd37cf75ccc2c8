// Where notifications go: the Secret confighash-notifications in confighash's
// namespace (webhook URLs are credentials), key `config.yaml`:
//
//   sinks:
//     - name: team-chat            # the metrics label; unique
//       type: slack                # slack | teams | google-chat | cloudevents
//       url: https://hooks.slack.com/services/…
//       events: [rollout.failed]   # optional; default every type
//       namespaces: [shop]         # optional; default every namespace
//       timeout: 10s               # optional; per request
//       retryFor: 10m              # optional; then the notice is given up
//
// A sink that is wrong is left out, and said why; the others still run. What is
// said never quotes the document: it holds the URLs.
import { load as loadYaml } from 'js-yaml';
import { parseDuration } from '../time/duration.ts';
import { NOTICE_TYPES, type NoticeType } from './notice.ts';
import { SINK_FORMATS } from './sinks/index.ts';

export const NOTIFICATIONS_SECRET = 'confighash-notifications';
export const NOTIFICATIONS_KEY = 'config.yaml';

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETRY_FOR_MS = 10 * 60_000;
/** A sink's name is a label value and a log field: kept short and plain. */
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface SinkSettings {
  name: string;
  type: string;
  url: string;
  /** Undefined: every type. */
  events?: ReadonlySet<NoticeType>;
  /** Undefined: every namespace. */
  namespaces?: ReadonlySet<string>;
  timeoutMs: number;
  retryForMs: number;
}

export interface NotificationSettings {
  sinks: SinkSettings[];
  /** What was left out, and why. */
  problems: string[];
}

/** Throws when the document is not YAML at all (then the previous settings stay). */
export function parseNotificationSettings(text: string): NotificationSettings {
  let document: unknown;
  try {
    document = loadYaml(text);
  } catch (error) {
    // js-yaml quotes the offending lines after the first: only the first is said.
    throw new Error(`${NOTIFICATIONS_KEY} is not YAML: ${((error as Error).message.split('\n')[0] ?? '').trim()}`, {
      cause: error,
    });
  }
  const sinks = (document as { sinks?: unknown } | null)?.sinks;
  if (!Array.isArray(sinks)) throw new Error(`${NOTIFICATIONS_KEY} has no list "sinks"`);
  const settings: NotificationSettings = { sinks: [], problems: [] };
  const names = new Set<string>();
  sinks.forEach((entry: unknown, index) => {
    try {
      const sink = parseSink(entry);
      if (names.has(sink.name)) throw new Error(`another sink is named "${sink.name}"`);
      names.add(sink.name);
      settings.sinks.push(sink);
    } catch (error) {
      const name = (entry as { name?: unknown } | null)?.name;
      settings.problems.push(
        `sinks[${index}]${typeof name === 'string' && NAME.test(name) ? ` (${name})` : ''}: ${(error as Error).message}`,
      );
    }
  });
  return settings;
}

function parseSink(entry: unknown): SinkSettings {
  if (typeof entry !== 'object' || entry === null) throw new Error('is not a mapping');
  const fields = entry as Record<string, unknown>;
  const name = text(fields, 'name');
  if (!NAME.test(name)) throw new Error('name must be lowercase letters, digits and dashes, at most 63');
  const type = text(fields, 'type');
  if (!Object.hasOwn(SINK_FORMATS, type))
    throw new Error(`type "${type.slice(0, 40)}" is not one of ${Object.keys(SINK_FORMATS).join(', ')}`);
  const events = eventTypes(fields);
  const namespaces = list(fields, 'namespaces');
  return {
    name,
    type,
    url: parseUrl(text(fields, 'url')),
    ...(events ? { events } : {}),
    ...(namespaces ? { namespaces: new Set(namespaces) } : {}),
    timeoutMs: duration(fields, 'timeout', DEFAULT_TIMEOUT_MS),
    retryForMs: duration(fields, 'retryFor', DEFAULT_RETRY_FOR_MS),
  };
}

function eventTypes(fields: Record<string, unknown>): Set<NoticeType> | undefined {
  const events = list(fields, 'events');
  if (!events) return undefined;
  const unknown = events.find((e) => !(NOTICE_TYPES as readonly string[]).includes(e));
  if (unknown !== undefined)
    throw new Error(`events: "${unknown.slice(0, 40)}" is not one of ${NOTICE_TYPES.join(', ')}`);
  return new Set(events as NoticeType[]);
}

function text(fields: Record<string, unknown>, key: string): string {
  const value = fields[key];
  if (typeof value !== 'string' || value === '') throw new Error(`${key} must be a non-empty string`);
  return value;
}

function list(fields: Record<string, unknown>, key: string): string[] | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string'))
    throw new Error(`${key} must be a non-empty list of strings`);
  return value;
}

function duration(fields: Record<string, unknown>, key: string, fallback: number): number {
  const value = fields[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new Error(`${key} must be a duration such as "30s"`);
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (error) {
    throw new Error(`${key}: ${(error as Error).message}`, { cause: error });
  }
  if (ms <= 0) throw new Error(`${key} must be more than 0`);
  return ms;
}

/** An http(s) URL; its text is never part of an error (it is the credential). */
function parseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('url is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('url must be http or https');
  return url.toString();
}
