// The small parsers both config modules build their fields from (index.ts's `field`, connections.ts's
// specs), in a module of their own so that neither imports the other.
import type { Parsed } from './types.ts'

export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value })
export const fail = (error: string): Parsed<never> => ({ ok: false, error })

/**
 * An integer within `range`, from text already trimmed: decimal digits, a sign at most. `Number` alone read
 * `0x1F90` as 8080, `1e3` as 1000 and `8080.0` as 8080, and a number past 2^53 as a neighbour of it.
 */
export function integer(raw: string, range: { min?: number; max?: number } = {}): Parsed<number> {
  const n = /^[+-]?\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n)) return fail(`must be an integer, got ${JSON.stringify(raw)}`)
  if (range.min !== undefined && n < range.min) return fail(`must be >= ${range.min}, got ${n}`)
  if (range.max !== undefined && n > range.max) return fail(`must be <= ${range.max}, got ${n}`)
  return ok(n)
}
