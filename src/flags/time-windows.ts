/**
 * Time schedules (evaluation step 7): is a recurring window open at an instant, in the schedule's
 * own IANA time zone? Local wall-clock time comes from `Intl`, so DST transitions are the
 * runtime's tz database's business, not ours.
 *
 * Window semantics: [start, end) in local time; `end <= start` wraps past midnight, and the
 * part after midnight belongs to the day the window opened (a Friday 22:00–02:00 window is open
 * at Saturday 01:00 when Friday is one of its days); `start === end` is a 24-hour window.
 * `weekly` filters by `daysOfWeek` (ISO, 1 = Monday), `monthly` by `daysOfMonth`, `daily` by
 * neither. `validFrom` (inclusive) and `validUntil` (exclusive) bound every recurrence.
 */
import type { TimeSchedule } from './model.js'

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
 * Hook for `cron` schedules: filled in by the schedules issue with a maintained cron parser. Until
 * then a cron schedule is never open, so a flag gated only by cron schedules stays disabled rather
 * than on around the clock.
 */
export function isCronScheduleOpen(_schedule: TimeSchedule, _now: number): boolean {
  return false
}

/** A schedule compiled once per snapshot: `(now) => open?`. Never throws (a broken schedule is closed). */
export function compileTimeSchedule(schedule: TimeSchedule): (now: number) => boolean {
  const from = schedule.validFrom?.getTime() ?? -Infinity
  const until = schedule.validUntil?.getTime() ?? Infinity
  if (schedule.recurrence === 'cron') {
    return (now) => now >= from && now < until && isCronScheduleOpen(schedule, now)
  }
  const start = parseMinutes(schedule.start)
  const end = parseMinutes(schedule.end)
  if (!Number.isFinite(start) || !Number.isFinite(end)) return () => false
  const weekdays = schedule.recurrence === 'weekly' ? new Set(schedule.daysOfWeek ?? []) : undefined
  const monthDays = schedule.recurrence === 'monthly' ? new Set(schedule.daysOfMonth ?? []) : undefined
  const zone = schedule.timezone
  return (now) => {
    if (!(now >= from && now < until)) return false
    let local: LocalTime
    try {
      local = localTime(zone, now)
    } catch {
      return false
    }
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
