import { describe, expect, it } from 'vitest'
import pino from 'pino'
import type { DeadLetterItem } from './bulk-pipeline.ts'
import { rebuildLetters } from './rebuild.ts'

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
