import { describe, expect, it, onTestFinished, vi } from 'vitest'
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

  it('logs a key again once the interval is over, though the wall clock stepped back an hour meanwhile (an NTP step)', async () => {
    let offset = 0
    const realNow = Date.now.bind(Date)
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset)
    onTestFinished(() => { spy.mockRestore() })
    const log = new RateLimitedLog(50)
    const lines: number[] = []
    log.maybe('a', (suppressed) => lines.push(suppressed))
    offset = -3_600_000
    log.maybe('a', (suppressed) => lines.push(suppressed))
    await new Promise((resolve) => setTimeout(resolve, 60))
    // Before the fix it was held back for the hour the clock went back as well: an outage's warnings gone for it.
    log.maybe('a', (suppressed) => lines.push(suppressed))
    expect(lines).toEqual([0, 1])
  })
})
