// A month's write alias cannot be made while an index of the alias's name is there (a stray write without
// require_alias, a restore): the cluster's to fix, as the catalogue says of what the cluster refuses, not
// the documents' fault. Their records must wait for the fix, not be dead-lettered one after another.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { indicesOfTest, waitFor } from '@opsreview/testing'
import { BulkPipeline, type DeadLetterItem } from './bulk-pipeline.ts'
import { liveWrites } from './documents.ts'
import { ensureIndices, indexNames } from './templates.ts'

describe('a month alias whose name an index holds', () => {
  it('holds the month\'s documents back (es-refused, in waiting) instead of dead-lettering them as invalid-target', async () => {
    const { prefix, es } = indicesOfTest('squat')
    await ensureIndices(es, prefix, '1s')
    const n = indexNames(prefix)
    // An index named as the month's write alias would be.
    await es.indices.create({ index: n.alerts.monthAlias('2026.11') })
    const topics = { alerts: `${prefix}.alerts`, incidents: `${prefix}.incidents`, problems: `${prefix}.problems` }
    const live = liveWrites(es, prefix, topics)
    const letters: DeadLetterItem[] = []
    const pipeline = new BulkPipeline({ es, logger: pino({ level: 'silent' }), deadLetter: async (l) => { letters.push(...l) }, minBackoffMs: 5, maxBackoffMs: 20, ...live.pipeline })
    const value = JSON.stringify({ id: 'a'.repeat(32), status: 'firing', startsAt: '2026-11-05T10:00:00Z' })
    const op = live.documentFor(topics.alerts)(value)
    op.source = { topic: topics.alerts, partition: 0, offset: '0', key: null, value }
    await pipeline.add({ topic: topics.alerts, partition: 0, lastOffset: '0', ops: [op], poison: [] })
    // Retried and shown as a refusal of the cluster's, while nothing is dead-lettered.
    await waitFor(() => (pipeline.waiting.length > 0 || letters.length > 0 ? true : undefined), { timeoutMs: 10_000 })
    expect({ letters: letters.map((l) => l.envelope.reason), waiting: pipeline.waiting.map((w) => w.code) }).toEqual({ letters: [], waiting: ['es-refused'] })
    pipeline.stop()
  })
})
