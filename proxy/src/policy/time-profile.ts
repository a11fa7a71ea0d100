/**
 * Time profiles: days plus a `from`–`to` window on the wall clock of an IANA time zone. A window
 * whose `to` is before its `from` crosses midnight and belongs to the day it opens on
 * (Mon 22:00–06:00 covers Mon 22:00 to Tue 06:00).
 *
 * Local time comes from `Intl`, which is far too slow for every request (~microseconds), so each
 * zone caches the local day and minute of the last UTC minute it was asked about: requests
 * within the same minute reuse it.
 */
import { DAYS, type Day } from './schema.js';

export interface LocalTime {
  /** 0 = Monday … 6 = Sunday. */
  day: number;
  /** Minutes since local midnight. */
  minute: number;
}

const WEEKDAY_INDEX: Record<string, number> = Object.fromEntries(DAYS.map((d, i) => [d, i]));

export function timeZoneError(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `unknown time zone "${zone}" (use an IANA name such as Europe/Berlin or UTC)`;
  }
}

/** `HH:MM` → minutes since midnight (`24:00` → 1440). Assumes the schema's pattern already held. */
export function parseClock(text: string): number {
  return Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));
}

export class ZoneClock {
  private readonly format: Intl.DateTimeFormat | undefined;
  private cachedKey = Number.NaN;
  private cached: LocalTime = { day: 0, minute: 0 };

  constructor(readonly zone: string) {
    this.format =
      zone === 'UTC'
        ? undefined
        : new Intl.DateTimeFormat('en-US', {
            timeZone: zone,
            hourCycle: 'h23',
            weekday: 'short',
            hour: '2-digit',
            minute: '2-digit',
          });
  }

  localTime(epochMs: number): LocalTime {
    const key = Math.floor(epochMs / 60000);
    if (key === this.cachedKey) return this.cached;
    this.cachedKey = key;
    this.cached = this.format ? this.fromIntl(epochMs, this.format) : fromUtc(epochMs);
    return this.cached;
  }

  private fromIntl(epochMs: number, format: Intl.DateTimeFormat): LocalTime {
    let day = 0;
    let hour = 0;
    let minute = 0;
    for (const part of format.formatToParts(epochMs)) {
      if (part.type === 'weekday') day = WEEKDAY_INDEX[part.value];
      else if (part.type === 'hour') hour = Number(part.value);
      else if (part.type === 'minute') minute = Number(part.value);
    }
    return { day, minute: hour * 60 + minute };
  }
}

function fromUtc(epochMs: number): LocalTime {
  const d = new Date(epochMs);
  return { day: (d.getUTCDay() + 6) % 7, minute: d.getUTCHours() * 60 + d.getUTCMinutes() };
}

export class TimeWindow {
  private readonly days: boolean[];
  readonly from: number;
  readonly to: number;

  constructor(
    readonly name: string,
    readonly clock: ZoneClock,
    days: readonly Day[] | undefined,
    from: string | undefined,
    to: string | undefined,
  ) {
    this.days = DAYS.map((d) => days === undefined || days.includes(d));
    this.from = from === undefined ? 0 : parseClock(from);
    this.to = to === undefined ? 1440 : parseClock(to);
  }

  isActive(epochMs: number): boolean {
    const { day, minute } = this.clock.localTime(epochMs);
    if (this.from < this.to) return this.days[day] && minute >= this.from && minute < this.to;
    return (this.days[day] && minute >= this.from) || (this.days[(day + 6) % 7] && minute < this.to);
  }

  describe(): string {
    const on = DAYS.filter((_, i) => this.days[i]).join(',');
    const clock = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    return `${on} ${clock(this.from)}-${clock(this.to)} ${this.clock.zone}`;
  }
}
