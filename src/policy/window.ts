// Weekly maintenance windows (pure): `Sat,Sun 02:00-05:00; Mon-Fri 22:00-23:30`
// in an IANA time zone. A window whose end is not after its start crosses
// midnight (`Fri 22:00-02:00` ends on Saturday); `24:00` ends a day.

export interface WeeklyWindow {
  /** 0 = Sunday … 6 = Saturday: the days the window starts on. */
  days: ReadonlySet<number>;
  /** Minutes after local midnight. */
  start: number;
  end: number;
}

export interface WindowSchedule {
  windows: readonly WeeklyWindow[];
  timeZone: string;
  /** As written, for messages. */
  text: string;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/**
 * What one annotation may ask for: the windows an operator writes fit in a few
 * (a week has seven days), and every decision checks each window on eight days,
 * so the count bounds the cost of a decision. Longer text is refused unread.
 */
export const MAX_WINDOWS = 16;
export const MAX_SCHEDULE_LENGTH = 512;
const DAY_MINUTES = 24 * 60;
const MINUTE_MS = 60_000;

/** Parses the windows and checks the time zone; the error says what is wrong, in the terms of the annotation. */
export function parseSchedule(text: string, timeZone = 'UTC'): WindowSchedule | { error: string } {
  if (text.length > MAX_SCHEDULE_LENGTH)
    return { error: `${text.length} characters, more than the ${MAX_SCHEDULE_LENGTH} a schedule may have` };
  const zone = canonicalTimeZone(timeZone);
  if (zone === undefined)
    return { error: `"${timeZone.slice(0, MAX_TIME_ZONE_LENGTH)}" is not an IANA time zone (e.g. Europe/Berlin)` };
  const parts = text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length > MAX_WINDOWS)
    return { error: `${parts.length} windows, more than the ${MAX_WINDOWS} a schedule may have` };
  const windows: WeeklyWindow[] = [];
  for (const part of parts) {
    const window = parseWindow(part);
    if (typeof window === 'string')
      return {
        error: `"${part}": ${window}; a window is DAYS HH:MM-HH:MM, e.g. Sat,Sun 02:00-05:00 or Mon-Fri 22:00-23:30`,
      };
    windows.push(window);
  }
  if (windows.length === 0) return { error: 'no window is given' };
  return { windows, timeZone: zone, text: text.trim() };
}

/** Whether `now` is inside a window; if not, when the next one opens. */
export function windowState(schedule: WindowSchedule, now: Date): { open: true } | { open: false; opensAt: Date } {
  const local = localTime(now, schedule.timeZone);
  if (schedule.windows.some((w) => covers(w, local.day, local.minute))) return { open: true };
  // The next opening is a window's start on one of the next eight days, at local time.
  let opensAt: Date | undefined;
  for (let ahead = 0; ahead <= 7; ahead++) {
    const day = (local.day + ahead) % 7;
    for (const window of schedule.windows) {
      if (!window.days.has(day)) continue;
      const at = instantOf(now, schedule.timeZone, ahead, window.start);
      if (at > now && (!opensAt || at < opensAt)) opensAt = at;
    }
  }
  // Unreachable for a parsed schedule (a window's start comes within a week); a day ahead keeps it safe.
  return { open: false, opensAt: opensAt ?? new Date(now.getTime() + DAY_MINUTES * MINUTE_MS) };
}

/** `Sat 02:00 Europe/Berlin`: an instant as the schedule's readers think of it. */
export function describeLocal(at: Date, timeZone: string): string {
  const { day, minute } = localTime(at, timeZone);
  const name = DAYS[day] ?? '';
  return `${name.charAt(0).toUpperCase()}${name.slice(1)} ${clock(minute)} ${timeZone}`;
}

function parseWindow(text: string): WeeklyWindow | string {
  const match = /^(\S+)\s+(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$/.exec(text);
  if (!match) return 'not DAYS HH:MM-HH:MM';
  const days = parseDays(match[1] ?? '');
  if (typeof days === 'string') return days;
  const [start, end] = [minutes(match[2] ?? ''), minutes(match[3] ?? '')];
  if (start === undefined || end === undefined || start === DAY_MINUTES)
    return 'a time is not HH:MM from 00:00 to 24:00';
  return start === end ? 'the window is empty' : { days, start, end };
}

function parseDays(text: string): Set<number> | string {
  const days = new Set<number>();
  for (const item of text.toLowerCase().split(',')) {
    const [from, to] = item.split('-');
    const a = DAYS.indexOf(from ?? '');
    const b = to === undefined ? a : DAYS.indexOf(to);
    if (a < 0 || b < 0) return `"${item}" is not a day or range of days (Mon, Tue, …, Sun; Mon-Fri)`;
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === b) break;
    }
  }
  return days;
}

function minutes(time: string): number | undefined {
  const [h = 0, m = 0] = time.split(':').map(Number);
  if (m > 59 || h > 24 || (h === 24 && m > 0)) return undefined;
  return h * 60 + m;
}

/** Whether the window covers `minute` of `day`: from its own start day, or carried over midnight from the day before. */
function covers(window: WeeklyWindow, day: number, minute: number): boolean {
  const crosses = window.end <= window.start;
  if (window.days.has(day) && minute >= window.start && (crosses || minute < window.end)) return true;
  return crosses && window.days.has((day + 6) % 7) && minute < window.end;
}

/** The weekday and minute of the day at `at` in `timeZone`. */
function localTime(at: Date, timeZone: string): { day: number; minute: number; parts: Record<string, number> } {
  const parts = Object.fromEntries(
    formatterOf(timeZone)
      .formatToParts(at)
      .map((p) => [p.type, p.type === 'weekday' ? DAYS.indexOf(p.value.toLowerCase()) : Number(p.value)]),
  ) as Record<string, number>;
  return { day: parts['weekday'] ?? 0, minute: (parts['hour'] ?? 0) * 60 + (parts['minute'] ?? 0), parts };
}

/** The instant of local `minute`, `ahead` days after `now`'s local date, in `timeZone` (across offset changes). */
function instantOf(now: Date, timeZone: string, ahead: number, minute: number): Date {
  const { parts } = localTime(now, timeZone);
  const wall = Date.UTC(parts['year'] ?? 1970, (parts['month'] ?? 1) - 1, (parts['day'] ?? 1) + ahead, 0, minute);
  let guess = wall - offsetMs(new Date(wall), timeZone);
  guess = wall - offsetMs(new Date(guess), timeZone);
  return new Date(guess);
}

/** How far `timeZone`'s wall clock is ahead of UTC at `at`. */
function offsetMs(at: Date, timeZone: string): number {
  const { parts } = localTime(at, timeZone);
  const wall = Date.UTC(
    parts['year'] ?? 1970,
    (parts['month'] ?? 1) - 1,
    parts['day'] ?? 1,
    parts['hour'] ?? 0,
    parts['minute'] ?? 0,
  );
  return wall - Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS;
}

function clock(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

/** One formatter per time zone, built once: building one costs far more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** IANA names are short; a longer "time zone" is refused before Intl parses it. */
const MAX_TIME_ZONE_LENGTH = 64;

/** Keyed by canonical names only (see canonicalTimeZone): a few hundred at most, whatever tenants write. */
function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The zone's canonical name (`europe/berlin` is `Europe/Berlin`), or undefined if it is none. */
function canonicalTimeZone(timeZone: string): string | undefined {
  if (timeZone.length > MAX_TIME_ZONE_LENGTH) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}
