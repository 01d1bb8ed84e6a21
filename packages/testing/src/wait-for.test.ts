import { describe, expect, it } from 'vitest'
import { waitFor } from './index.ts'

describe('waitFor', () => {
  it('gives up with what it waited for, the last error and what the probe last saw', async () => {
    let looks = 0
    const waited = waitFor(() => { looks++; if (looks % 2 === 0) throw new Error('not yet'); return undefined }, { timeoutMs: 50, intervalMs: 5, what: 'the group empty', lastSeen: () => `${looks} looks` })
    await expect(waited).rejects.toThrow(/^timed out after 50 ms waiting for the group empty: Error: not yet; last seen: \d+ looks$/)
  })

  it('returns the first value the probe finds', async () => {
    let looks = 0
    expect(await waitFor(() => (++looks === 3 ? 'found' : undefined), { intervalMs: 1, lastSeen: () => 'unused' })).toBe('found')
  })
})
