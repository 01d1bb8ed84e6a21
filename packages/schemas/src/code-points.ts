/**
 * Whether `s` is at most `max` code points long, as the schemas (and ajv) count a string's length: a name
 * of 150 astral characters (emoji) is valid and 300 UTF-16 units long. Units bound code points from above,
 * so only a string longer in units than the bound is counted, and the count stops past the bound.
 */
export function withinCodePoints(s: string, max: number): boolean {
  if (s.length <= max) return true
  let n = 0
  for (const _ of s) if (++n > max) return false
  return true
}

/** `s` cut to its first `max` code points (a surrogate pair is never split); `s` itself when it is no longer. */
export function firstCodePoints(s: string, max: number): string {
  return withinCodePoints(s, max) ? s : Array.from(s).slice(0, max).join('')
}
