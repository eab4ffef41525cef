/**
 * Time schedules (evaluation step 7): is a recurring window open at an instant, in the schedule's
 * own IANA time zone? Local wall-clock time comes from `Intl`, so DST transitions are the
 * runtime's tz database's business, not ours.
 *
 * Window semantics: [start, end) on the local wall clock; `end <= start` wraps past midnight, and
 * the part after midnight belongs to the day the window opened (a Friday 22:00–02:00 window is open
 * at Saturday 01:00 when Friday is one of its days); `start === end` is a 24-hour window.
 * `weekly` filters by `daysOfWeek` (ISO, 1 = Monday … 7 = Sunday), `monthly` by `daysOfMonth`,
 * `daily` by neither. `validFrom` (inclusive) and `validUntil` (exclusive) bound every recurrence.
 *
 * - **DST.** Windows are wall-clock times: a local time that does not exist (the hour skipped when
 *   clocks spring forward) is simply never seen, so a 01:30–03:30 window on that day is open from
 *   01:30 to 01:59 and from 03:00 to 03:29 local time, one real hour; a local time that happens
 *   twice (the hour repeated when clocks fall back) is inside the window both times, so a 01:00–02:00
 *   window in New York on 2026-11-01 is open for two real hours.
 * - **`daysOfMonth` is literal.** Day 31 matches only months that have a 31st (never April, June,
 *   September, November, nor February; likewise 29–30 in February); it does not mean "the last
 *   day", which is what cron's `L` is for (`recurrence: 'cron'`, `cron: '* * L * *'`).
 * - **`cron`**: see `isCronScheduleOpen`.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser'
import type { TimeSchedule } from '../model.js'

interface LocalTime {
  /** Days since 1970-01-01 in the local calendar. */
  readonly day: number
  /** Minutes since local midnight. */
  readonly minutes: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()
// Local time only changes from one minute to the next (every zone offset is a whole number of
// minutes), so one cached answer per zone serves every evaluation within that minute.
const lastAnswer = new Map<string, { minute: number; local: LocalTime }>()

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    })
    formatters.set(timeZone, f)
  }
  return f
}

/** Local calendar day and minute of `now` in `timeZone` (throws RangeError for an unknown zone). */
export function localTime(timeZone: string, now: number): LocalTime {
  const minute = Math.floor(now / 60_000)
  const cached = lastAnswer.get(timeZone)
  if (cached !== undefined && cached.minute === minute) return cached.local
  let year = 0
  let month = 0
  let day = 0
  let hour = 0
  let min = 0
  for (const part of formatter(timeZone).formatToParts(now)) {
    switch (part.type) {
      case 'year':
        year = Number(part.value)
        break
      case 'month':
        month = Number(part.value)
        break
      case 'day':
        day = Number(part.value)
        break
      case 'hour':
        hour = Number(part.value) % 24
        break
      case 'minute':
        min = Number(part.value)
        break
    }
  }
  const local = { day: Math.floor(Date.UTC(year, month - 1, day) / 86_400_000), minutes: hour * 60 + min }
  lastAnswer.set(timeZone, { minute, local })
  return local
}

function isoWeekday(day: number): number {
  // 1970-01-01 was a Thursday (ISO 4).
  return ((((day + 3) % 7) + 7) % 7) + 1
}

function dayOfMonth(day: number): number {
  return new Date(day * 86_400_000).getUTCDate()
}

function parseMinutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))
}

/**
 * Parses a cron window expression, or throws an Error saying what is wrong. Five fields (minute,
 * hour, day of month, month, day of week; names such as `mon` / `jan`, ranges, lists, steps, `L`,
 * `W` and `#` as cron-parser reads them). Not allowed: a seconds field or `@` macros (a window is
 * made of whole minutes, and `@daily` would be a one-minute window), and Jenkins-style `H` (its
 * value is random per parser seed, so two processes could disagree).
 */
export function parseCronWindow(expression: string): CronExpression {
  const fields = expression.trim().split(/\s+/)
  if (fields.length !== 5 || fields[0] === '') {
    throw new Error(
      `must have 5 fields (minute hour day-of-month month day-of-week), got ${fields[0] === '' ? 0 : fields.length}`,
    )
  }
  // `h` is not in any month name; of the day names only `thu` has one.
  const hashed = fields.some((field, i) => /h/i.test(i === 4 ? field.replace(/thu/gi, '') : field))
  if (hashed) throw new Error('hashed values (H) are not supported: they would differ between processes')
  // Evaluated against local wall-clock time written as UTC (see `compileTimeSchedule`).
  return CronExpressionParser.parse(fields.join(' '), { tz: 'UTC' })
}

/** Why `expression` is not a usable cron window, or undefined when it is. */
export function cronProblem(expression: string): string | undefined {
  try {
    parseCronWindow(expression)
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

/**
 * Whether a `cron` schedule is open at `now`. The cron expression marks the **minutes during which
 * the window is open**, read on the schedule's local wall clock: `* 9-17 * * 1-5` is open Monday to
 * Friday from 09:00 to 17:59 local time (as litestar-flags matched cron against the current
 * minute), `* * L * *` all of the last day of each month, `0-29 12 * * *` from 12:00 to 12:29.
 * `start` / `end` narrow it further to that time of day ([start, end), wrapping past midnight;
 * `00:00`–`00:00`, the default for cron schedules, is the whole day). Across DST the rules of the
 * other recurrences hold: skipped local minutes never match, repeated ones match both times.
 */
export function isCronScheduleOpen(schedule: TimeSchedule, now: number): boolean {
  return schedule.recurrence === 'cron' && compileTimeSchedule(schedule)(now)
}

/** `now` in the schedule's zone, or undefined outside `[from, until)` or when the zone cannot be read (closed). */
function localTimeWithin(zone: string, now: number, from: number, until: number): LocalTime | undefined {
  if (!(now >= from && now < until)) return undefined
  try {
    return localTime(zone, now)
  } catch {
    return undefined
  }
}

function inTimeOfDay(minutes: number, start: number, end: number): boolean {
  if (start === end) return true
  return start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end
}

function compileCron(schedule: TimeSchedule, from: number, until: number, start: number, end: number): (now: number) => boolean {
  let expression: CronExpression
  try {
    expression = parseCronWindow(schedule.cron ?? '')
  } catch {
    return () => false
  }
  const zone = schedule.timezone
  // The answer only changes from one local minute to the next: remember the last one.
  let lastMinute = NaN
  let lastOpen = false
  return (now) => {
    const local = localTimeWithin(zone, now, from, until)
    if (local === undefined) return false
    if (!inTimeOfDay(local.minutes, start, end)) return false
    const minute = local.day * 1440 + local.minutes
    if (minute !== lastMinute) {
      // Local wall-clock time written as a UTC instant, matched by an expression parsed for UTC.
      try {
        lastOpen = expression.includesDate(new Date(minute * 60_000))
      } catch {
        lastOpen = false
      }
      lastMinute = minute
    }
    return lastOpen
  }
}

/** A schedule compiled once per snapshot: `(now) => open?`. Never throws (a broken schedule is closed). */
export function compileTimeSchedule(schedule: TimeSchedule): (now: number) => boolean {
  const from = schedule.validFrom?.getTime() ?? -Infinity
  const until = schedule.validUntil?.getTime() ?? Infinity
  const start = parseMinutes(schedule.start ?? '00:00')
  const end = parseMinutes(schedule.end ?? '00:00')
  if (!Number.isFinite(start) || !Number.isFinite(end)) return () => false
  if (schedule.recurrence === 'cron') return compileCron(schedule, from, until, start, end)
  const weekdays = schedule.recurrence === 'weekly' ? new Set(schedule.daysOfWeek ?? []) : undefined
  const monthDays = schedule.recurrence === 'monthly' ? new Set(schedule.daysOfMonth ?? []) : undefined
  const zone = schedule.timezone
  return (now) => {
    const local = localTimeWithin(zone, now, from, until)
    if (local === undefined) return false
    let openedOn: number
    if (start < end) {
      if (local.minutes < start || local.minutes >= end) return false
      openedOn = local.day
    } else if (local.minutes >= start) {
      openedOn = local.day
    } else if (local.minutes < end || start === end) {
      openedOn = local.day - 1
    } else {
      return false
    }
    if (weekdays !== undefined && !weekdays.has(isoWeekday(openedOn))) return false
    if (monthDays !== undefined && !monthDays.has(dayOfMonth(openedOn))) return false
    return true
  }
}

/** Whether `schedule` is open at `now` (epoch ms). */
export function isTimeScheduleOpen(schedule: TimeSchedule, now: number): boolean {
  return compileTimeSchedule(schedule)(now)
}
