import { describe, expect, it } from 'vitest'
import { coverageWarnings } from './report.ts'

const from = Date.parse('2026-11-05T00:00:00.000Z')
const readFrom = '2026-10-29T00:00:00.000Z'
const part = (partition: number, earliest: string | null) => ({ topic: 'opsreview.alerts.v1', partition, logStartOffset: '7', earliest })

describe('coverageWarnings', () => {
  it('says nothing when every partition holds the log from where the replay read', () => {
    expect(coverageWarnings(from, [], readFrom)).toEqual([])
    // Cut, but at the very start of the read: nothing before it was asked for.
    expect(coverageWarnings(from, [part(0, readFrom)], readFrom)).toEqual([])
  })

  it('names the time every partition is whole from when the range itself is cut, and each partition', () => {
    const [w, ...more] = coverageWarnings(from, [part(0, '2026-11-05T10:00:00.000Z'), part(1, '2026-11-04T00:00:00.000Z')], readFrom)
    expect(more).toEqual([])
    expect(w).toBe('the retained log starts after --from 2026-11-05T00:00:00.000Z: every input partition is whole only from 2026-11-05T10:00:00.000Z (retention removed what came before), so the report covers less than its range; per partition: opsreview.alerts.v1/0 from 2026-11-05T10:00:00.000Z (7 removed), opsreview.alerts.v1/1 from 2026-11-04T00:00:00.000Z (7 removed)')
  })

  it('counts a partition that retains no record as cutting the range', () => {
    expect(coverageWarnings(from, [part(2, null)], readFrom)).toEqual(['the retained log starts after --from 2026-11-05T00:00:00.000Z: an input partition retains no record (retention removed what came before), so the report covers less than its range; per partition: opsreview.alerts.v1/2 holds none (7 removed)'])
  })

  it('says only the warm-up is cut when the log starts between its start and --from', () => {
    expect(coverageWarnings(from, [part(0, '2026-11-01T00:00:00.000Z')], readFrom)).toEqual([expect.stringMatching(/^the retained log starts after the warm-up's start 2026-10-29T00:00:00\.000Z \(at 2026-11-01T00:00:00\.000Z, before --from 2026-11-05T00:00:00\.000Z\): windows that reach back before then .* start cold/)])
  })
})
