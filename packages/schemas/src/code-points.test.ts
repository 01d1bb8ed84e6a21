import { describe, expect, it } from 'vitest'
import { firstCodePoints, withinCodePoints } from './code-points.ts'

describe('withinCodePoints', () => {
  it('counts code points, not UTF-16 units, up to the bound', () => {
    expect(withinCodePoints('🙂'.repeat(150), 150)).toBe(true)
    expect(withinCodePoints('🙂'.repeat(151), 150)).toBe(false)
    expect(withinCodePoints('a'.repeat(150), 150)).toBe(true)
    expect(withinCodePoints('a'.repeat(151), 150)).toBe(false)
    expect(withinCodePoints(`${'a'.repeat(149)}🙂`, 150)).toBe(true)
    expect(withinCodePoints('', 0)).toBe(true)
    // A lone surrogate is one code point, as ajv counts it; a pair is one.
    expect(withinCodePoints('a\ud83d\ud83d\ude42', 3)).toBe(true)
    expect(withinCodePoints('\ud83d'.repeat(4), 3)).toBe(false)
  })

  it('cuts to the first code points, never between the halves of a pair', () => {
    expect(firstCodePoints('🙂'.repeat(5), 3)).toBe('🙂🙂🙂')
    expect(firstCodePoints('ab🙂c', 3)).toBe('ab🙂')
    const s = 'short'
    expect(firstCodePoints(s, 5)).toBe(s)
    expect(firstCodePoints('abc', 0)).toBe('')
  })
})
