import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import pino from 'pino'
import { Spool, type SpoolRecord } from './spool.ts'

const logger = pino({ level: 'silent' })
const rec = (key: string): SpoolRecord => ({ topic: 'alerts', key, value: `value of ${key}` })

type Op =
  | { kind: 'append'; count: number }
  /** Kafka takes `budget` records (the last call possibly in part), then is down until the restart. */
  | { kind: 'drain'; budget: number }
  /** The process dies: maybe in the middle of an append, maybe before its last cursor write. */
  | { kind: 'crash'; tear: number | undefined; rewindCursor: boolean }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('drain' as const), budget: fc.integer({ min: 0, max: 12 }) }),
  fc.record({ kind: fc.constant('crash' as const), tear: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }), rewindCursor: fc.boolean() }),
)

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; !done(); i++) {
    if (i > 5000) throw new Error('the drain made no progress')
    await new Promise((r) => setTimeout(r, 2))
  }
}

describe('Spool under random appends, partial drains, crashes and restarts', () => {
  it('publishes every acknowledged record at least once, first occurrences in append order, never a torn one', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({ segmentBytes: fc.integer({ min: 120, max: 800 }), drainBatch: fc.integer({ min: 1, max: 8 }), drainBytes: fc.integer({ min: 1, max: 600 }) }),
      fc.array(op, { minLength: 1, maxLength: 14 }),
      async (sizes, ops) => {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'spool-prop-'))
        const opts = { logger, ...sizes, retryDelayMs: 1, maxRetryDelayMs: 2 }
        const acked: string[] = []
        const torn: string[] = []
        const published: string[] = []
        const deadLettered: unknown[] = []
        let next = 0
        let spool = await Spool.open(dir, opts)
        let cursorBeforeDrain: string | undefined
        try {
          for (const o of ops) {
            if (o.kind === 'append') {
              const records = Array.from({ length: o.count }, () => rec(`k${next++}`))
              await spool.append(records)
              acked.push(...records.map((r) => r.key))
            } else if (o.kind === 'drain') {
              cursorBeforeDrain = await readFile(path.join(dir, 'cursor.json'), 'utf8').catch(() => undefined)
              let budget = o.budget
              let refusedOnce = false
              spool.startDraining(async (records) => {
                const taken = records.slice(0, budget)
                published.push(...taken.map((r) => r.key))
                budget -= taken.length
                if (taken.length < records.length) { refusedOnce = true; throw Object.assign(new Error('Kafka down'), { retriable: true }) }
              }, { deadLetter: async (record, reason) => { deadLettered.push({ record, reason }) } })
              await until(() => spool.depth === 0 || refusedOnce)
              const bytes = spool.bytes
              await spool.close()
              spool = await Spool.open(dir, opts)
              // What the drain and appends counted is what the next open finds on disk past the cursor.
              expect(spool.bytes).toBe(bytes)
            } else {
              const bytes = spool.bytes
              await spool.close()
              if (o.tear !== undefined) {
                const key = `torn${next++}`
                torn.push(key)
                const segments = (await readdir(dir)).filter((f) => f.startsWith('segment-')).sort()
                await appendFile(path.join(dir, segments.at(-1)!), JSON.stringify({ ...rec(key), at: 0 }).slice(0, o.tear))
              }
              if (o.rewindCursor) {
                if (cursorBeforeDrain === undefined) await rm(path.join(dir, 'cursor.json'), { force: true })
                else await writeFile(path.join(dir, 'cursor.json'), cursorBeforeDrain)
              }
              spool = await Spool.open(dir, opts)
              if (!o.rewindCursor) expect(spool.bytes).toBe(bytes)
            }
          }
          spool.startDraining(async (records) => { published.push(...records.map((r) => r.key)) }, { deadLetter: async (record, reason) => { deadLettered.push({ record, reason }) } })
          await until(() => spool.depth === 0)
          expect(spool.bytes).toBe(0)
        } finally {
          await spool.close()
          await rm(dir, { recursive: true, force: true })
        }

        expect(deadLettered).toEqual([])
        expect(published.filter((k) => torn.includes(k))).toEqual([])
        const firsts = [...new Set(published)]
        expect(firsts).toEqual(acked)
      },
    ), { numRuns: 60 })
  }, 120_000)
})
