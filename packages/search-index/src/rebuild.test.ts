import { describe, expect, it } from 'vitest'
import pino from 'pino'
import type { DeadLetterItem } from './bulk-pipeline.ts'
import { oldestRetained, rebuildLetters } from './rebuild.ts'

const letter = (reason: DeadLetterItem['envelope']['reason'], offset: string): DeadLetterItem => ({
  key: `incidents/0/${offset}`,
  envelope: { stage: 'indexer', reason, error: `${reason} (test)`, at: '2026-12-03T10:00:00.000Z', origin: { topic: 'incidents', partition: 0, offset } },
})

describe('the records a rebuild gives up on', () => {
  it('lists as unwritten only documents that kept failing for a passing reason, not those no write can take', async () => {
    const letters = rebuildLetters(pino({ level: 'silent' }))
    await letters.deadLetter([letter('schema-invalid', '1'), letter('retries-exhausted', '2'), letter('mapping-rejected', '3')])
    await letters.deadLetter([letter('retries-exhausted', '4')])
    expect(letters.unwritten().map((l) => l.envelope.origin.offset)).toEqual(['2', '4'])
  })

  it('lists nothing when every record given up on is one the live indexer dead-lettered too', async () => {
    const letters = rebuildLetters(pino({ level: 'silent' }))
    await letters.deadLetter([letter('unparseable', '1'), letter('document-rejected', '2'), letter('term-too-long', '3')])
    expect(letters.unwritten()).toEqual([])
  })
})

describe('the bound below which alert documents are carried over', () => {
  const startedAt = Date.parse('2026-12-05T08:00:00.000Z')
  const at = (iso: string) => Date.parse(iso)

  it('is none when every partition was read from offset 0', () => {
    const ranges = new Map([['alerts/0', { low: 0n, high: 10n }], ['alerts/1', { low: 0n, high: 0n }]])
    expect(oldestRetained(ranges, new Map([['alerts/0', { offset: 0n, timestampMs: at('2026-11-01T00:00:00Z') }]]), startedAt)).toBeUndefined()
  })

  it('is the latest first record read among partitions trimmed before the rebuild or during its replay', () => {
    const ranges = new Map([['alerts/0', { low: 4n, high: 10n }], ['alerts/1', { low: 0n, high: 10n }], ['alerts/2', { low: 0n, high: 10n }]])
    const read = new Map([
      ['alerts/0', { offset: 4n, timestampMs: at('2026-11-02T00:00:00Z') }],
      // Its range started at 0, but retention took records 0-6 before the replay fetched them.
      ['alerts/1', { offset: 7n, timestampMs: at('2026-11-03T00:00:00Z') }],
      ['alerts/2', { offset: 0n, timestampMs: at('2026-11-09T00:00:00Z') }],
    ])
    expect(oldestRetained(ranges, read, startedAt)).toBe(at('2026-11-03T00:00:00Z'))
  })

  it('is the rebuild\'s start when a partition lost all its records, before the rebuild or before the replay read them', () => {
    const emptied = new Map([['alerts/0', { low: 10n, high: 10n }]])
    expect(oldestRetained(emptied, new Map(), startedAt)).toBe(startedAt)
    const gone = new Map([['alerts/0', { low: 0n, high: 10n }]])
    expect(oldestRetained(gone, new Map([['alerts/0', 'gone' as const]]), startedAt)).toBe(startedAt)
  })
})
