import { describe, expect, it } from 'vitest'
import { RateLimitedLog } from './rate-limited.ts'

describe('RateLimitedLog', () => {
  it('logs a key once per interval, then says how many it held back', () => {
    let now = 0
    const log = new RateLimitedLog(1000, () => now)
    const lines: [string, number][] = []
    const hit = (key: string) => log.maybe(key, (suppressed) => lines.push([key, suppressed]))
    hit('a'); hit('a'); hit('b')
    now = 999; hit('a')
    now = 1000; hit('a'); hit('b')
    expect(lines).toEqual([['a', 0], ['b', 0], ['a', 2], ['b', 0]])
  })
})
