import type { FieldError } from '@opsreview/schemas'
import { EARLIEST_MS } from './time.ts'
import { localTime, startOfDay } from './zone.ts'
import { onceReader, parseZone } from './window.ts'

export type PeriodKind = 'month' | 'quarter'

/** A calendar month or quarter in a time zone: [from, to) from local midnight on its first day to the next one's. */
export interface Period {
  kind: PeriodKind
  /** `2026-11` or `2026-Q4`. */
  label: string
  from: number
  to: number
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/
const QUARTER = /^(\d{4})-Q([1-4])$/

/** The period of a kind that starts with month `index` (months counted from year 0, January = 0). */
function periodAt(kind: PeriodKind, monthIndex: number, zone: string): Period {
  const months = kind === 'month' ? 1 : 3
  const start = Math.floor(monthIndex / months) * months
  const year = Math.floor(start / 12)
  const month = (start % 12) + 1
  const end = start + months
  const label = kind === 'month' ? `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}` : `${String(year).padStart(4, '0')}-Q${Math.floor((month - 1) / 3) + 1}`
  return {
    kind, label,
    from: startOfDay(zone, { year, month, day: 1 }),
    to: startOfDay(zone, { year: Math.floor(end / 12), month: (end % 12) + 1, day: 1 }),
  }
}

/** The period before this one (the previous month, the previous quarter). */
export function previousPeriod(p: Period, zone: string): Period {
  const [y, rest] = p.label.split('-') as [string, string]
  const monthIndex = Number(y) * 12 + (p.kind === 'month' ? Number(rest) - 1 : (Number(rest.slice(1)) - 1) * 3)
  return periodAt(p.kind, monthIndex - (p.kind === 'month' ? 1 : 3), zone)
}

/** The first period of a kind whose previous one starts at the epoch or later in the zone: its second or third. */
function firstComparable(kind: PeriodKind, zone: string): string {
  const step = kind === 'month' ? 1 : 3
  for (let index = 1970 * 12 + step; ; index += step) {
    const p = periodAt(kind, index, zone)
    if (previousPeriod(p, zone).from >= EARLIEST_MS) return p.label
  }
}

export interface LookbackQuery {
  period: Period
  previous: Period
  timeZone: string
}

/**
 * `GET /api/v1/lookback?period=month|quarter&at=2026-11|2026-Q4&tz=Europe/Berlin`. `period` is required;
 * `at` names a month (`YYYY-MM`) for `month` and a quarter (`YYYY-Qn`) for `quarter`, and defaults to the
 * last complete one in the zone. Every fault is named.
 */
export function parseLookbackQuery(raw: Record<string, unknown>, nowMs: number, defaultZone = 'UTC'): { ok: true; value: LookbackQuery } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = []
  const once = onceReader(raw, errors)
  const timeZone = parseZone(once, errors, defaultZone)
  const kindRaw = once('period')
  const at = once('at')
  let kind: PeriodKind | undefined
  if (kindRaw === undefined) { if (!errors.some((e) => e.path === '/period')) errors.push({ path: '/period', message: 'is required: month or quarter' }) }
  else if (kindRaw !== 'month' && kindRaw !== 'quarter') errors.push({ path: '/period', message: 'must be month or quarter' })
  else kind = kindRaw
  let period: Period | undefined
  if (kind !== undefined) {
    if (at === undefined) {
      const now = localTime(timeZone, nowMs)
      const current = periodAt(kind, now.year * 12 + now.month - 1, timeZone)
      period = previousPeriod(current, timeZone)
    } else {
      const m = kind === 'month' ? MONTH.exec(at) : QUARTER.exec(at)
      const year = Number(m?.[1])
      if (!m || year < 1970 || year > 9998) errors.push({ path: '/at', message: kind === 'month' ? 'must be a month like 2026-11 (1970 to 9998)' : 'must be a quarter like 2026-Q4 (1970 to 9998)' })
      else period = periodAt(kind, year * 12 + (kind === 'month' ? Number(m[2]) - 1 : (Number(m[2]) - 1) * 3), timeZone)
    }
    // The previous period is read too, for the comparison: 1970-01's is 1969-12, and east of UTC local
    // January 1970 itself starts in 1969, instants no other parameter of the API may name.
    if (period && previousPeriod(period, timeZone).from < EARLIEST_MS) {
      errors.push({ path: '/at', message: `must be a period whose previous one (its comparison) starts in 1970 or later: ${firstComparable(kind, timeZone)} or later in ${timeZone}` })
      period = undefined
    }
  }
  if (errors.length > 0 || period === undefined) return { ok: false, errors }
  return { ok: true, value: { period, previous: previousPeriod(period, timeZone), timeZone } }
}
