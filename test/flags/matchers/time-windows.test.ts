import { describe, expect, it } from 'vitest'
import { validateFlagInput } from '../../../src/flags/codec/index.js'
import { compileSnapshot } from '../../../src/flags/evaluation/evaluate.js'
import type { TimeSchedule } from '../../../src/flags/model.js'
import { cronProblem, isCronScheduleOpen, isTimeScheduleOpen } from '../../../src/flags/matchers/time-windows.js'
import { FlagstoneError } from '../../../src/errors.js'
import { makeFlag } from '../fixtures.js'

const MINUTE = 60_000

const window = (fields: Partial<TimeSchedule>): TimeSchedule => ({
  id: 'w',
  name: 'w',
  recurrence: 'daily',
  start: '09:00',
  end: '17:00',
  timezone: 'Europe/Berlin',
  ...fields,
})

/** Rows of (UTC instant, open?) for one schedule. */
type Row = [instant: string, open: boolean, note: string]

function checkRows(schedule: TimeSchedule, rows: Row[]) {
  for (const [instant, open, note] of rows) {
    expect({ instant, note, open: isTimeScheduleOpen(schedule, Date.parse(instant)) }).toEqual({ instant, note, open })
  }
}

describe('time windows across DST, 2026 (wall-clock semantics)', () => {
  it('Europe/Berlin spring forward (2026-03-29 02:00 CET → 03:00 CEST): a 01:30–03:30 window is open one real hour', () => {
    checkRows(window({ start: '01:30', end: '03:30' }), [
      ['2026-03-29T00:29:00Z', false, '01:29 CET'],
      ['2026-03-29T00:30:00Z', true, '01:30 CET'],
      ['2026-03-29T00:59:59Z', true, '01:59:59 CET'],
      ['2026-03-29T01:00:00Z', true, '03:00 CEST (02:00–02:59 does not exist)'],
      ['2026-03-29T01:29:00Z', true, '03:29 CEST'],
      ['2026-03-29T01:30:00Z', false, '03:30 CEST: end is exclusive'],
      ['2026-03-28T02:29:00Z', true, 'Saturday 03:29 CET: a normal day is open two real hours'],
      ['2026-03-28T02:30:00Z', false, 'Saturday 03:30 CET'],
    ])
  })

  it('Europe/Berlin spring forward: a window starting inside the skipped hour opens at 03:00', () => {
    checkRows(window({ start: '02:15', end: '04:00' }), [
      ['2026-03-29T00:59:00Z', false, '01:59 CET'],
      ['2026-03-29T01:00:00Z', true, '03:00 CEST is after 02:15'],
      ['2026-03-29T01:59:00Z', true, '03:59 CEST'],
      ['2026-03-29T02:00:00Z', false, '04:00 CEST'],
    ])
  })

  it('Europe/Berlin fall back (2026-10-25 03:00 CEST → 02:00 CET): the repeated hour is inside a 02:00–03:00 window both times', () => {
    checkRows(window({ start: '02:00', end: '03:00' }), [
      ['2026-10-24T23:59:00Z', false, '01:59 CEST'],
      ['2026-10-25T00:00:00Z', true, '02:00 CEST (first time)'],
      ['2026-10-25T00:59:00Z', true, '02:59 CEST'],
      ['2026-10-25T01:00:00Z', true, '02:00 CET (second time)'],
      ['2026-10-25T01:59:00Z', true, '02:59 CET'],
      ['2026-10-25T02:00:00Z', false, '03:00 CET'],
    ])
  })

  it('America/New_York spring forward (2026-03-08 02:00 EST → 03:00 EDT): a 01:30–03:30 window', () => {
    checkRows(window({ timezone: 'America/New_York', start: '01:30', end: '03:30' }), [
      ['2026-03-08T06:29:00Z', false, '01:29 EST'],
      ['2026-03-08T06:30:00Z', true, '01:30 EST'],
      ['2026-03-08T06:59:00Z', true, '01:59 EST'],
      ['2026-03-08T07:00:00Z', true, '03:00 EDT'],
      ['2026-03-08T07:29:00Z', true, '03:29 EDT'],
      ['2026-03-08T07:30:00Z', false, '03:30 EDT'],
    ])
  })

  it('America/New_York fall back (2026-11-01 02:00 EDT → 01:00 EST): a 01:00–02:00 window is open two real hours', () => {
    checkRows(window({ timezone: 'America/New_York', start: '01:00', end: '02:00' }), [
      ['2026-11-01T04:59:00Z', false, '00:59 EDT'],
      ['2026-11-01T05:00:00Z', true, '01:00 EDT'],
      ['2026-11-01T05:59:00Z', true, '01:59 EDT'],
      ['2026-11-01T06:00:00Z', true, '01:00 EST'],
      ['2026-11-01T06:59:00Z', true, '01:59 EST'],
      ['2026-11-01T07:00:00Z', false, '02:00 EST'],
    ])
  })

  it('a window that wraps midnight, on the spring-forward night (Berlin 22:00–02:00 closes at 03:00 CEST)', () => {
    checkRows(window({ start: '22:00', end: '02:00' }), [
      ['2026-03-28T20:59:00Z', false, 'Sat 21:59 CET'],
      ['2026-03-28T21:00:00Z', true, 'Sat 22:00 CET'],
      ['2026-03-28T23:30:00Z', true, 'Sun 00:30 CET'],
      ['2026-03-29T00:59:00Z', true, 'Sun 01:59 CET'],
      ['2026-03-29T01:00:00Z', false, 'Sun 03:00 CEST'],
    ])
  })

  it('a window that wraps midnight, on the fall-back night (Berlin 22:00–02:30)', () => {
    checkRows(window({ start: '22:00', end: '02:30' }), [
      ['2026-10-24T20:00:00Z', true, 'Sat 22:00 CEST'],
      ['2026-10-25T00:29:00Z', true, 'Sun 02:29 CEST'],
      ['2026-10-25T00:30:00Z', false, 'Sun 02:30 CEST'],
      ['2026-10-25T01:00:00Z', true, 'Sun 02:00 CET (repeated)'],
      ['2026-10-25T01:30:00Z', false, 'Sun 02:30 CET'],
    ])
  })

  it('a wrapping window belongs to the day it opened: weekly Saturday 22:00–02:00 is open early Sunday, not early Saturday', () => {
    checkRows(window({ recurrence: 'weekly', daysOfWeek: [6], start: '22:00', end: '02:00', timezone: 'America/New_York' }), [
      ['2026-03-08T03:30:00Z', true, 'Sat 22:30 EST'],
      ['2026-03-08T06:30:00Z', true, 'Sun 01:30 EST'],
      ['2026-03-08T07:00:00Z', false, 'Sun 03:00 EDT'],
      ['2026-03-07T06:30:00Z', false, 'Sat 01:30 EST: Friday night, Friday is not a day of this window'],
    ])
  })
})

describe('weekly days in ISO numbering (1 = Monday … 7 = Sunday)', () => {
  // 2026-03-29 is a Sunday, 2026-03-30 a Monday.
  it.each([
    [[7], '2026-03-29T10:00:00Z', true],
    [[7], '2026-03-30T10:00:00Z', false],
    [[1], '2026-03-30T10:00:00Z', true],
    [[1, 2, 3, 4, 5], '2026-03-28T10:00:00Z', false],
    [[6, 7], '2026-03-28T10:00:00Z', true],
  ])('days %j at %s → %s', (days, instant, open) => {
    expect(isTimeScheduleOpen(window({ recurrence: 'weekly', daysOfWeek: days }), Date.parse(instant))).toBe(open)
  })

  it('the weekday is the local one: Monday 00:30 in Berlin is still Sunday in UTC', () => {
    const mondayOnly = window({ recurrence: 'weekly', daysOfWeek: [1], start: '00:00', end: '01:00' })
    expect(isTimeScheduleOpen(mondayOnly, Date.parse('2026-03-29T22:30:00Z'))).toBe(true) // Mon 00:30 CEST
    expect(isTimeScheduleOpen({ ...mondayOnly, timezone: 'UTC' }, Date.parse('2026-03-29T22:30:00Z'))).toBe(false)
  })
})

describe('monthly: daysOfMonth is literal', () => {
  const the31st = window({ recurrence: 'monthly', daysOfMonth: [31], start: '00:00', end: '00:00', timezone: 'UTC' })

  it('31 never matches in a 30-day month (every minute of April 2026 is closed)', () => {
    let open = 0
    for (let t = Date.parse('2026-04-01T00:00:00Z'); t < Date.parse('2026-05-01T00:00:00Z'); t += 15 * MINUTE) {
      if (isTimeScheduleOpen(the31st, t)) open++
    }
    expect(open).toBe(0)
  })

  it('31 matches on the 31st of a 31-day month, and not on the 30th or the 1st', () => {
    expect(isTimeScheduleOpen(the31st, Date.parse('2026-05-31T12:00:00Z'))).toBe(true)
    expect(isTimeScheduleOpen(the31st, Date.parse('2026-05-30T12:00:00Z'))).toBe(false)
    expect(isTimeScheduleOpen(the31st, Date.parse('2026-06-01T12:00:00Z'))).toBe(false)
  })

  it('"the last day of the month" is cron L', () => {
    const last = window({ recurrence: 'cron', cron: '* * L * *', start: '00:00', end: '00:00', timezone: 'UTC' })
    expect(isTimeScheduleOpen(last, Date.parse('2026-04-30T12:00:00Z'))).toBe(true)
    expect(isTimeScheduleOpen(last, Date.parse('2026-04-29T12:00:00Z'))).toBe(false)
    expect(isTimeScheduleOpen(last, Date.parse('2026-02-28T23:59:00Z'))).toBe(true)
  })

  it('the day of month is the local one', () => {
    const first = window({ recurrence: 'monthly', daysOfMonth: [1], start: '00:00', end: '00:00', timezone: 'America/New_York' })
    expect(isTimeScheduleOpen(first, Date.parse('2026-05-01T02:00:00Z'))).toBe(false) // still Apr 30 in New York
    expect(isTimeScheduleOpen(first, Date.parse('2026-05-01T05:00:00Z'))).toBe(true)
  })
})

describe('cron windows (cron-parser): the expression marks the open minutes, on the local wall clock', () => {
  const cron = (expression: string, fields: Partial<TimeSchedule> = {}) =>
    window({ recurrence: 'cron', cron: expression, start: '00:00', end: '00:00', ...fields })

  it('business hours: `* 9-17 * * 1-5` is open 09:00–17:59 local, Monday to Friday', () => {
    checkRows(cron('* 9-17 * * 1-5'), [
      ['2026-03-30T06:59:00Z', false, 'Mon 08:59 CEST'],
      ['2026-03-30T07:00:00Z', true, 'Mon 09:00 CEST'],
      ['2026-03-30T15:59:59Z', true, 'Mon 17:59:59 CEST'],
      ['2026-03-30T16:00:00Z', false, 'Mon 18:00 CEST'],
      ['2026-03-27T08:00:00Z', true, 'Fri 09:00 CET'],
      ['2026-03-28T10:00:00Z', false, 'Sat'],
    ])
  })

  it('names and steps: `0-29 12 * * mon,thu` (twelve to half past, Mondays and Thursdays)', () => {
    checkRows(cron('0-29 12 * * mon,thu', { timezone: 'UTC' }), [
      ['2026-04-02T12:00:00Z', true, 'Thu 12:00'],
      ['2026-04-02T12:29:00Z', true, 'Thu 12:29'],
      ['2026-04-02T12:30:00Z', false, 'Thu 12:30'],
      ['2026-04-01T12:10:00Z', false, 'Wed'],
    ])
  })

  it('across DST: `* 2 * * *` never matches on the spring-forward day and matches both 02:xx hours on the fall-back day', () => {
    const twoOClock = cron('* 2 * * *')
    let spring = 0
    for (let t = Date.parse('2026-03-28T22:00:00Z'); t < Date.parse('2026-03-29T22:00:00Z'); t += MINUTE)
      if (isCronScheduleOpen(twoOClock, t)) spring++
    expect(spring).toBe(0)
    let fall = 0
    for (let t = Date.parse('2026-10-24T22:00:00Z'); t < Date.parse('2026-10-25T23:00:00Z'); t += MINUTE)
      if (isCronScheduleOpen(twoOClock, t)) fall++
    expect(fall).toBe(120)
  })

  it('start / end narrow a cron window to a time of day', () => {
    checkRows(cron('* * * * 1-5', { start: '10:00', end: '11:00', timezone: 'UTC' }), [
      ['2026-03-30T09:59:00Z', false, 'Mon 09:59'],
      ['2026-03-30T10:30:00Z', true, 'Mon 10:30'],
      ['2026-03-30T11:00:00Z', false, 'Mon 11:00'],
    ])
  })

  it('validFrom / validUntil bound a cron window', () => {
    const bounded = cron('* * * * *', {
      validFrom: new Date('2026-01-01T00:00:00Z'),
      validUntil: new Date('2026-02-01T00:00:00Z'),
    })
    expect(isTimeScheduleOpen(bounded, Date.parse('2025-12-31T23:59:59Z'))).toBe(false)
    expect(isTimeScheduleOpen(bounded, Date.parse('2026-01-15T00:00:00Z'))).toBe(true)
    expect(isTimeScheduleOpen(bounded, Date.parse('2026-02-01T00:00:00Z'))).toBe(false)
  })

  it('an expression that does not parse is closed, never a throw', () => {
    expect(isTimeScheduleOpen(cron('not a cron'), Date.parse('2026-03-30T10:00:00Z'))).toBe(false)
    expect(isTimeScheduleOpen(cron('61 * * * *'), Date.parse('2026-03-30T10:00:00Z'))).toBe(false)
  })

  it('through the evaluator: open minutes serve the flag, others DISABLED', () => {
    const snapshot = compileSnapshot({
      flags: [makeFlag({ key: 'f', defaultEnabled: true, timeSchedules: [cron('* 9-17 * * 1-5')] })],
    })
    expect(snapshot.evaluate('f', 'boolean', false, {}, Date.parse('2026-03-30T07:00:00Z'))).toMatchObject({
      value: true,
      reason: 'STATIC',
    })
    expect(snapshot.evaluate('f', 'boolean', false, {}, Date.parse('2026-03-30T06:59:00Z'))).toMatchObject({
      value: false,
      reason: 'DISABLED',
    })
  })
})

describe('time schedules on write (codec)', () => {
  const input = (schedule: Record<string, unknown>) => ({
    key: 'f',
    type: 'boolean',
    timeSchedules: [{ id: 'w', timezone: 'Europe/Berlin', ...schedule }],
  })
  const rejection = (schedule: Record<string, unknown>): string => {
    try {
      validateFlagInput(input(schedule))
    } catch (error) {
      expect(error).toBeInstanceOf(FlagstoneError)
      expect((error as FlagstoneError).code).toBe('INVALID_ARGUMENT')
      return (error as FlagstoneError).message
    }
    throw new Error('expected a rejection')
  }

  it.each([
    [
      'a time zone that does not exist',
      { recurrence: 'daily', start: '09:00', end: '17:00', timezone: 'Europe/Atlantis' },
      'timeSchedules[0].timezone: unknown IANA time zone',
    ],
    [
      'an abbreviation that is not an IANA zone',
      { recurrence: 'daily', start: '09:00', end: '17:00', timezone: 'CEST' },
      'timeSchedules[0].timezone',
    ],
    [
      'a cron expression that does not parse',
      { recurrence: 'cron', cron: '61 * * * *' },
      'timeSchedules[0].cron: invalid cron expression',
    ],
    ['six fields (seconds)', { recurrence: 'cron', cron: '0 * 9-17 * * 1-5' }, 'must have 5 fields'],
    ['a macro', { recurrence: 'cron', cron: '@daily' }, 'must have 5 fields'],
    ['hashed H', { recurrence: 'cron', cron: 'H 9 * * *' }, 'hashed values (H)'],
    ['a cron schedule without an expression', { recurrence: 'cron' }, 'timeSchedules[0].cron: is required'],
    [
      'cron on a daily schedule',
      { recurrence: 'daily', start: '09:00', end: '17:00', cron: '* * * * *' },
      'only allowed when recurrence is "cron"',
    ],
    ['weekly without days', { recurrence: 'weekly', start: '09:00', end: '17:00' }, 'timeSchedules[0].daysOfWeek: is required'],
    [
      'daysOfMonth 32',
      { recurrence: 'monthly', start: '09:00', end: '17:00', daysOfMonth: [32] },
      'timeSchedules[0].daysOfMonth[0]',
    ],
  ])('rejects %s', (_name, schedule, message) => {
    expect(rejection(schedule)).toContain(message)
  })

  it('accepts cron with day names (thu is not a hash) and defaults its start / end to the whole day', () => {
    const flag = validateFlagInput(input({ recurrence: 'cron', cron: '*/15 9-17 * jan-mar thu' }))
    expect(flag.timeSchedules[0]).toMatchObject({ start: '00:00', end: '00:00', cron: '*/15 9-17 * jan-mar thu' })
    expect(cronProblem('* * L * *')).toBeUndefined()
  })
})
