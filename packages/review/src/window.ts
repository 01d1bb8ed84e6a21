import type { FieldError } from './search.ts'
import type { ReviewWindow } from './report.ts'
import { parseInstant } from './time.ts'

const DURATION = /^(\d{1,6})(m|h|d)$/
const UNIT = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const DAY = UNIT.d
const MAX_SINCE_MS = 366 * DAY

/**
 * The window of a review from its query: `from`/`to` (either may be left out: `to` defaults to now, `from`
 * to 24 h before `to`), else `since` (a duration up to a year, ending now), else the last 24 h. Each
 * parameter at most once; every fault is named.
 */
export function parseReviewWindow(raw: Record<string, unknown>, nowMs: number): { ok: true; value: ReviewWindow } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = []
  const once = (name: string): string | undefined => {
    const v = raw[name]
    if (v === undefined || v === '') return undefined
    if (typeof v !== 'string') { errors.push({ path: `/${name}`, message: 'must be given once' }); return undefined }
    return v
  }
  const instant = (name: string): number | undefined => {
    const v = once(name)
    if (v === undefined) return undefined
    const t = parseInstant(v)
    if (!t.ok) { errors.push({ path: `/${name}`, message: t.message }); return undefined }
    return t.ms
  }
  const fromRaw = raw.from
  const toRaw = raw.to
  let to = nowMs
  let from = nowMs - DAY
  if ((fromRaw !== undefined && fromRaw !== '') || (toRaw !== undefined && toRaw !== '')) {
    const f = instant('from')
    const t = instant('to')
    if (errors.length === 0) {
      to = t ?? nowMs
      from = f ?? to - DAY
      if (from >= to) errors.push({ path: '/from', message: 'must be before to' })
    }
  } else {
    const since = once('since')
    if (since !== undefined) {
      const m = DURATION.exec(since)
      const ms = m ? Number(m[1]) * UNIT[m[2] as keyof typeof UNIT] : NaN
      if (!(ms > 0 && ms <= MAX_SINCE_MS)) errors.push({ path: '/since', message: 'must be a duration like 90m, 24h or 7d, at most a year' })
      else from = nowMs - ms
    }
  }
  if (errors.length > 0) return { ok: false, errors }
  return { ok: true, value: { from: new Date(from).toISOString(), to: new Date(to).toISOString() } }
}
