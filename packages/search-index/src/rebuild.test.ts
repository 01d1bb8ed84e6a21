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

  it('is none when no partition lost a record unread', () => {
    const ranges = new Map([['alerts/0', { low: 0n, high: 10n }], ['alerts/1', { low: 0n, high: 0n }]])
    expect(oldestRetained(ranges, new Map(), startedAt)).toBeUndefined()
  })

  it('is the latest time before which a partition lost records unread, before the rebuild or during it', () => {
    const ranges = new Map([['alerts/0', { low: 4n, high: 10n }], ['alerts/1', { low: 0n, high: 10n }], ['alerts/2', { low: 0n, high: 10n }]])
    const lost = new Map([['alerts/0', at('2026-11-02T00:00:00Z')], ['alerts/1', at('2026-11-03T00:00:00Z')]])
    expect(oldestRetained(ranges, lost, startedAt)).toBe(at('2026-11-03T00:00:00Z'))
  })

  it("is the rebuild's start for a partition that had lost every record before it began", () => {
    expect(oldestRetained(new Map([['alerts/0', { low: 10n, high: 10n }]]), new Map(), startedAt)).toBe(startedAt)
  })
})
