import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeLocal, MAX_WINDOWS, parseSchedule, type WindowSchedule, windowState } from './window.ts';

function schedule(text: string, timeZone?: string): WindowSchedule {
  const parsed = parseSchedule(text, timeZone);
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed;
}

// 2026-12-05 is a Saturday.
const at = (iso: string): Date => new Date(iso);

describe('maintenance windows', () => {
  it('is open inside a window, and says when the next one opens outside', () => {
    const weekend = schedule('Sat,Sun 02:00-05:00; Mon-Fri 22:00-23:30');
    assert.deepEqual(windowState(weekend, at('2026-12-05T03:00:00Z')), { open: true });
    assert.deepEqual(windowState(weekend, at('2026-12-04T22:10:00Z')), { open: true }, 'Friday night');
    const closed = windowState(weekend, at('2026-12-05T05:00:00Z'));
    assert.deepEqual(closed, { open: false, opensAt: at('2026-12-06T02:00:00Z') });
    assert.deepEqual(
      windowState(weekend, at('2026-12-06T06:00:00Z')),
      { open: false, opensAt: at('2026-12-07T22:00:00Z') },
      'Sunday to Monday night',
    );
  });

  it('carries a window over midnight', () => {
    const night = schedule('Fri 22:00-02:00');
    assert.deepEqual(
      windowState(night, at('2026-12-05T01:30:00Z')),
      { open: true },
      "Saturday 01:30 belongs to Friday's window",
    );
    assert.equal(windowState(night, at('2026-12-05T02:00:00Z')).open, false);
    assert.deepEqual(windowState(schedule('Mon-Sun 00:00-24:00'), at('2026-12-05T23:59:00Z')), { open: true });
  });

  it('reads the windows in their time zone, across a change of offset', () => {
    const berlin = schedule('Sat 02:00-05:00', 'Europe/Berlin');
    assert.deepEqual(windowState(berlin, at('2026-12-05T01:30:00Z')), { open: true }, '02:30 in Berlin (UTC+1)');
    assert.deepEqual(windowState(berlin, at('2026-12-05T05:00:00Z')), {
      open: false,
      opensAt: at('2026-12-12T01:00:00Z'),
    });
    // 2027-03-27 is the Saturday before summer time (UTC+2 from 28 March).
    assert.deepEqual(windowState(schedule('Sun 03:00-04:00', 'Europe/Berlin'), at('2027-03-27T12:00:00Z')), {
      open: false,
      opensAt: at('2027-03-28T01:00:00Z'),
    });
    assert.equal(describeLocal(at('2026-12-12T01:00:00Z'), 'Europe/Berlin'), 'Sat 02:00 Europe/Berlin');
  });

  it('says what is wrong with a window or a time zone', () => {
    const error = (text: string, tz?: string): string => {
      const parsed = parseSchedule(text, tz);
      return 'error' in parsed ? parsed.error : 'parsed';
    };
    assert.match(error('Sat 2-5'), /not DAYS HH:MM-HH:MM; a window is DAYS HH:MM-HH:MM, e\.g\. Sat,Sun 02:00-05:00/);
    assert.match(error('Caturday 02:00-05:00'), /"caturday" is not a day/);
    assert.match(error('Sat 02:00-25:00'), /not HH:MM from 00:00 to 24:00/);
    assert.match(error('Sat 02:00-02:00'), /empty/);
    assert.match(error(' ; '), /no window/);
    assert.match(error('Sat 02:00-05:00', 'Mars/Olympus'), /not an IANA time zone/);
    assert.equal(error('fri-mon 01:00-02:00'), 'parsed', 'a range may wrap the week');
  });

  it('refuses, unread, more windows or text than a schedule may have, and a time zone name no zone has', () => {
    const windows = (n: number): string => Array.from({ length: n }, () => 'Sat 02:00-05:00').join(';');
    assert.equal('error' in parseSchedule(windows(MAX_WINDOWS)), false, 'the maximum is accepted');
    const tooMany = parseSchedule(Array.from({ length: MAX_WINDOWS + 1 }, () => 'Sat 2:00-3:00').join(';'));
    assert.match('error' in tooMany ? tooMany.error : '', /17 windows, more than the 16 a schedule may have/);
    // The reproduction: 12,000 windows, inside the annotation size limit, took 15 s a decision.
    const huge = parseSchedule(windows(12_000));
    assert.match('error' in huge ? huge.error : '', /characters, more than the 512 a schedule may have/);
    const zone = parseSchedule('Sat 02:00-05:00', `Europe/${'x'.repeat(10_000)}`);
    assert.match('error' in zone ? zone.error : '', /is not an IANA time zone/);
    assert.ok(('error' in zone ? zone.error : '').length < 200, 'the message does not repeat the input');
  });

  it('keeps a time zone by its canonical name', () => {
    assert.equal(schedule('Sat 02:00-05:00', 'europe/berlin').timeZone, 'Europe/Berlin');
  });
});
