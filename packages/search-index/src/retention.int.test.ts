import { describe, expect, it, onTestFinished } from 'vitest'
import { Client } from '@elastic/elasticsearch'
import { Registry } from 'prom-client'
import { captureLogs, indicesOfTest, waitFor } from '@opsreview/testing'
import { BulkPipeline, type DeadLetterItem } from './bulk-pipeline.ts'
import { bulkAction, incidentDocument, liveWrites, problemDocument } from './documents.ts'
import { batchWrites } from './indexing-consumer.ts'
import { describeRetention, runRetention, type RetentionSettings } from './retention.ts'
import { RetentionLease, retentionLeaseIndex } from './retention-lease.ts'
import { registerRetentionMetrics, RetentionScheduler, type RetentionOutcome } from './retention-scheduler.ts'
import { createIndex, ensureAlertMonth, ensureIndices, FIRST_GENERATION, incidentMappings, indexNames, whatIfPrefix } from './templates.ts'

const NOW = Date.parse('2026-12-01T12:00:00Z')
// Alerts: 2026.09 is the oldest month kept. Incidents and problems: kept from 2024-11-01T00:00:00Z.
const SETTINGS: RetentionSettings = { alertsMonths: 3, incidentsMonths: 25, problemsMonths: 25 }

const hex = (n: number) => n.toString(16).padStart(24, '0')
const incId = (n: number) => `inc-${hex(n)}`
const prbId = (n: number) => `prb-${hex(n)}`

function incident(n: number, o: { resolvedAt: string | null; openedAt?: string; problemIds?: number[]; postmortem?: { scheduledFor: string | null; forgottenAt?: string } }) {
  const openedAt = o.openedAt ?? '2019-01-01T00:00:00.000Z'
  return {
    id: incId(n), title: `incident ${n}`, status: o.resolvedAt === null ? 'open' : 'resolved', severity: 'warning', services: ['s'], environment: 'production',
    groupKey: 's|production', openedAt, resolvedAt: o.resolvedAt, resolvedBy: o.resolvedAt === null ? null : 'alerts',
    lastEventAt: o.resolvedAt ?? openedAt, alertCount: 1, alerts: [], reports: [], customerImpact: false, owner: null, acknowledgedAt: null, acknowledgedBy: null,
    problemIds: (o.problemIds ?? []).map(prbId), postmortem: o.postmortem ? { required: true, reasons: ['severity critical'], scheduledFor: o.postmortem.scheduledFor, owner: null, ...(o.postmortem.forgottenAt ? { forgottenAt: o.postmortem.forgottenAt } : {}) } : { required: false, reasons: [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version: 1,
  }
}

function problem(n: number, status: 'candidate' | 'confirmed' | 'dismissed' | 'resolved', lastSeenAt: string, incidentIds: number[] = [], resolvedAt?: string) {
  return {
    ...(resolvedAt ? { resolvedAt, reopenCount: 0 } : {}),
    id: prbId(n), kind: 'recurring', status, title: `p${n}`, signature: `sig${n}`, services: ['s'], environment: 'production',
    incidentIds: incidentIds.map(incId), incidentCount: incidentIds.length, firstSeenAt: '2019-01-01T00:00:00.000Z', lastSeenAt, owner: null, notes: [], version: 1,
  }
}

const alert = (id: string, startsAt: string) => ({
  id, source: 'alertmanager', fingerprint: `fp-${id}`, status: 'firing', severity: 'warning', service: 's', environment: 'production',
  title: id, labels: { alertname: 'A' }, startsAt, receivedAt: startsAt, eventAt: startsAt, links: [], origin: {},
})

async function write(es: Client, ops: { index: string; id: string; version?: number; document: string }[]) {
  const r = await es.bulk({ refresh: true, operations: ops.flatMap((op) => [bulkAction(op), JSON.parse(op.document) as unknown]) })
  expect(r.errors, JSON.stringify(r.items.find((i) => i.index?.error))).toBe(false)
}

/**
 * A live index as retention finds it, and a what-if dataset beside it. Incidents and problems:
 *   1 resolved just before the cutoff                      → deleted
 *   2 resolved exactly at the cutoff                       → kept
 *   3 open since 2019                                      → kept (open, whatever its age)
 *   4 resolved 2023, names open problem 1                  → kept (an open problem refers to it)
 *   5 resolved 2023, named only by open problem 1          → kept
 *   6 resolved 2023, names closed problem 2                → deleted, and problem 2 with it
 *   7 resolved 2026-11 (opened 2023), names closed problem 3 → kept, and so problem 3
 *   8 resolved 2023, post-mortem required, not scheduled   → kept (the review's queue lists it until scheduled)
 *   9 resolved 2023, post-mortem required and scheduled    → deleted
 *  10 resolved 2023, post-mortem required, not scheduled, forgotten by the correlator → deleted (no decision can schedule it)
 * Problems: 1 confirmed 2020 (kept), 2 resolved 2023 (deleted), 3 dismissed 2023 (kept: incident 7),
 *   4 candidate 2019 (kept), 5 resolved 2026-10 (kept), 6 dismissed 2022 with no incidents (deleted).
 * Alert months: 2026.06 (two generations) and 2026.08 deleted; 2026.09 and 2026.12 kept.
 */
async function seed(es: Client, prefix: string) {
  const n = indexNames(prefix)
  await ensureIndices(es, prefix)
  for (const month of ['2026.06', '2026.08', '2026.09', '2026.12']) await ensureAlertMonth(es, prefix, month)
  // A second generation of June, as a rebuild leaves it: a month is deleted with every generation.
  await createIndex(es, n.alerts.monthIndex('2026.06', 'gen2'), { [n.alerts.alias]: {} })
  await write(es, [
    ...[['a-jun', '2026-06-30T23:59:59.999Z'], ['a-aug', '2026-08-15T00:00:00.000Z'], ['a-sep', '2026-09-01T00:00:00.000Z'], ['a-dec', '2026-12-01T00:00:00.000Z']]
      .map(([id, at]) => ({ index: n.alerts.indexFor(at!), id: id!, document: JSON.stringify(alert(id!, at!)) })),
    { index: n.alerts.monthIndex('2026.06', 'gen2'), id: 'a-jun2', document: JSON.stringify(alert('a-jun2', '2026-06-01T00:00:00.000Z')) },
    ...[
      incident(1, { resolvedAt: '2024-10-31T23:59:59.999Z' }),
      incident(2, { resolvedAt: '2024-11-01T00:00:00.000Z' }),
      incident(3, { resolvedAt: null }),
      incident(4, { resolvedAt: '2023-03-01T00:00:00.000Z', problemIds: [1] }),
      incident(5, { resolvedAt: '2023-03-01T00:00:00.000Z' }),
      incident(6, { resolvedAt: '2023-05-01T00:00:00.000Z', problemIds: [2] }),
      incident(7, { openedAt: '2023-06-01T00:00:00.000Z', resolvedAt: '2026-11-20T00:00:00.000Z', problemIds: [3] }),
      incident(8, { resolvedAt: '2023-07-01T00:00:00.000Z', postmortem: { scheduledFor: null } }),
      incident(9, { resolvedAt: '2023-07-01T00:00:00.000Z', postmortem: { scheduledFor: '2023-07-03T10:00:00.000Z' } }),
      // Never scheduled, and forgotten by the correlator: no decision can take it off the queue, so nothing keeps it.
      incident(10, { resolvedAt: '2023-07-01T00:00:00.000Z', postmortem: { scheduledFor: null, forgottenAt: '2023-08-01T00:00:00.000Z' } }),
    ].map((i) => incidentDocument(n.incidents.alias)(JSON.stringify(i))),
    ...[
      problem(1, 'confirmed', '2020-01-01T00:00:00.000Z', [4, 5]),
      problem(2, 'resolved', '2023-05-01T00:00:00.000Z', [6]),
      problem(3, 'dismissed', '2023-06-01T00:00:00.000Z', [7]),
      problem(4, 'candidate', '2019-01-01T00:00:00.000Z'),
      problem(5, 'resolved', '2026-10-01T00:00:00.000Z'),
      problem(6, 'dismissed', '2022-01-01T00:00:00.000Z'),
      // Last seen long ago, resolved within the retention: its last activity is the resolve.
      problem(7, 'resolved', '2023-01-01T00:00:00.000Z', [], '2026-11-15T00:00:00.000Z'),
    ].map((p) => problemDocument(n.problems.alias)(JSON.stringify(p))),
  ])

  // A what-if dataset (`?dataset=old`): scratch indices beside the live ones, older than any retention.
  const d = indexNames(whatIfPrefix(prefix, 'old'))
  await es.indices.create({ index: d.incidents.first, mappings: incidentMappings, settings: { number_of_shards: 1, number_of_replicas: 0 }, aliases: { [d.incidents.alias]: { is_write_index: true } } })
  await es.indices.create({ index: d.alerts.monthIndex('2020.01', FIRST_GENERATION), settings: { number_of_shards: 1, number_of_replicas: 0 } })
  await write(es, [incidentDocument(d.incidents.alias)(JSON.stringify(incident(1, { resolvedAt: '2020-01-01T00:00:00.000Z' })))])
}

/** Everything under the prefix: every index name, and the ids behind each read alias. */
async function contents(es: Client, prefix: string) {
  const n = indexNames(prefix)
  await es.indices.refresh({ index: `${prefix}*` })
  const ids = async (index: string) => (await es.search({ index, size: 100, _source: false, query: { match_all: {} } })).hits.hits.map((h) => h._id!).sort()
  return {
    indices: (await es.cat.indices({ index: `${prefix}*`, h: 'index', format: 'json' })).map((r) => r.index!).filter((i) => i !== retentionLeaseIndex(prefix)).sort(),
    alerts: await ids(n.alerts.alias),
    incidents: await ids(n.incidents.alias),
    problems: await ids(n.problems.alias),
    dataset: await ids(indexNames(whatIfPrefix(prefix, 'old')).incidents.alias),
  }
}

function expected(prefix: string) {
  const d = indexNames(whatIfPrefix(prefix, 'old'))
  return {
    indices: [
      d.alerts.monthIndex('2020.01', FIRST_GENERATION), d.incidents.first,
      `${prefix}-alerts-2026.09-000001`, `${prefix}-alerts-2026.12-000001`, `${prefix}-incidents-000001`, `${prefix}-problems-000001`,
    ].sort(),
    alerts: ['a-dec', 'a-sep'],
    incidents: [2, 3, 4, 5, 7, 8].map(incId),
    problems: [1, 3, 4, 5, 7].map(prbId),
    dataset: [incId(1)],
  }
}

async function seeded() {
  const { prefix, es } = indicesOfTest('ret')
  await seed(es, prefix)
  return { es, prefix }
}

describe('retention against Elasticsearch', () => {
  it('deletes old alert months whole and old closed incidents and problems no open record refers to; keeps the rest and any dataset', async () => {
    const { es, prefix } = await seeded()
    const before = await contents(es, prefix)

    const dry = await runRetention(es, prefix, SETTINGS, NOW, { dryRun: true })
    expect(await contents(es, prefix)).toEqual(before)

    const result = await runRetention(es, prefix, SETTINGS, NOW)
    expect(result.alerts).toEqual({
      oldestKept: '2026.09', months: ['2026.06', '2026.08'],
      indices: [`${prefix}-alerts-2026.06-000001`, `${prefix}-alerts-2026.06-gen2`, `${prefix}-alerts-2026.08-000001`],
    })
    expect(result.incidents).toEqual({ cutoff: '2024-11-01T00:00:00.000Z', deleted: 4 })
    expect(result.problems).toEqual({ cutoff: '2024-11-01T00:00:00.000Z', deleted: 2 })
    // The dry run said exactly what the run did.
    expect({ ...dry, dryRun: false }).toEqual(result)
    expect(await contents(es, prefix)).toEqual(expected(prefix))

    // Idempotent: a second run finds nothing more.
    const again = await runRetention(es, prefix, SETTINGS, NOW)
    expect([again.alerts.indices, again.incidents.deleted, again.problems.deleted]).toEqual([[], 0, 0])
    expect(await contents(es, prefix)).toEqual(expected(prefix))
  })

  it('deletes the other old alert months when a block keeps one (an operator made it read-only), and names the one kept', async () => {
    const { es, prefix } = await seeded()
    const blocked = `${prefix}-alerts-2026.06-gen2`
    await es.indices.putSettings({ index: blocked, settings: { 'index.blocks.read_only': true } })
    onTestFinished(() => es.indices.putSettings({ index: blocked, settings: { 'index.blocks.read_only': false } }).then(() => undefined, () => undefined))

    const result = await runRetention(es, prefix, SETTINGS, NOW)
    expect(result.alerts).toEqual({
      oldestKept: '2026.09', months: ['2026.06', '2026.08'],
      indices: [`${prefix}-alerts-2026.06-000001`, `${prefix}-alerts-2026.08-000001`], blocked: [blocked],
    })
    expect(describeRetention(result)).toContain(`kept 1 alert index a block refuses to delete (index.blocks.*): ${blocked}`)
    const left = Object.keys(await es.indices.get({ index: `${prefix}-alerts-*` })).filter((i) => /-alerts-2026\.0[68]-/.test(i))
    expect(left).toEqual([blocked])
  })

  it('a new version of a deleted incident, written right after the delete the way the indexer writes it, is indexed', async () => {
    const { prefix, es } = indicesOfTest('ret')
    await ensureIndices(es, prefix)
    const n = indexNames(prefix)
    const old = { ...incident(1, { resolvedAt: '2023-03-01T00:00:00.000Z' }), version: 3 }
    await write(es, [incidentDocument(n.incidents.alias)(JSON.stringify(old))])
    expect((await runRetention(es, prefix, SETTINGS, NOW)).incidents.deleted).toBe(1)

    // Well within index.gc_deletes (60 s), while Elasticsearch still remembers the deletion's version.
    const topics = { alerts: `${prefix}.alerts`, incidents: `${prefix}.incidents`, problems: `${prefix}.problems` }
    const live = liveWrites(es, prefix, topics)
    const letters: DeadLetterItem[] = []
    const { logger } = captureLogs()
    const pipeline = new BulkPipeline({ es, logger, deadLetter: async (l) => { letters.push(...l) }, ...live.pipeline })
    const next = { ...old, title: 'incident 1, noted again', version: 4 }
    const batch = batchWrites(live.documentFor(topics.incidents), topics.incidents, 0, [{ offset: '0', key: Buffer.from(next.id), value: Buffer.from(JSON.stringify(next)) }])
    await pipeline.add({ topic: topics.incidents, partition: 0, lastOffset: '0', ...batch })
    expect(await pipeline.drain(10_000)).toBe(true)
    expect(letters).toEqual([])

    await es.indices.refresh({ index: n.incidents.alias })
    const hits = (await es.search<{ title: string }>({ index: n.incidents.alias, version: true, query: { ids: { values: [next.id] } } })).hits.hits
    expect(hits.map((h) => [h._version, h._source?.title])).toEqual([[4, 'incident 1, noted again']])
  })

  it('an incident that changed between being read and being deleted is kept, and so is the problem it names', async () => {
    const { es, prefix } = await seeded()
    const n = indexNames(prefix)
    // The correlator writes a new version of incident 6 (still resolved in 2023, so still old) after the
    // run read it and before its delete reaches Elasticsearch: the delete gets a 409.
    const bulk = es.bulk.bind(es)
    let changed = false
    es.bulk = (async (...args: Parameters<typeof bulk>) => {
      const ops = (args[0] as { operations?: { delete?: { _id?: string } }[] }).operations ?? []
      if (!changed && ops.some((op) => op.delete?._id === incId(6))) {
        changed = true
        await write(es, [incidentDocument(n.incidents.alias)(JSON.stringify({ ...incident(6, { resolvedAt: '2023-05-01T00:00:00.000Z', problemIds: [2] }), version: 2 }))])
      }
      return bulk(...args)
    }) as typeof es.bulk

    const result = await runRetention(es, prefix, SETTINGS, NOW)
    expect(changed).toBe(true)
    expect([result.incidents.deleted, result.problems.deleted]).toEqual([3, 1])
    const kept = await contents(es, prefix)
    expect(kept.incidents).toEqual([2, 3, 4, 5, 6, 7, 8].map(incId))
    expect(kept.problems).toEqual([1, 2, 3, 4, 5, 7].map(prbId))

    // The next run looks at it again, and deletes both.
    const next = await runRetention(es, prefix, SETTINGS, NOW)
    expect([next.incidents.deleted, next.problems.deleted]).toEqual([1, 1])
    expect(await contents(es, prefix)).toEqual(expected(prefix))
  })

  it('two schedulers at once: one takes the lease and does the run, the other skips, and the result is the same', async () => {
    const { es, prefix } = await seeded()
    const registry = new Registry()
    const metrics = registerRetentionMetrics(registry)
    const { logger, lines } = captureLogs()
    const scheduler = (holder: string) => new RetentionScheduler({ es, prefix, settings: SETTINGS, intervalMs: 3_600_000, firstDelayMs: 0, holder, logger: logger.child({ holder }), metrics, now: () => NOW })
    const [a, b] = [scheduler('indexer-a'), scheduler('indexer-b')]

    const outcomes = await Promise.all([a.runOnce(), b.runOnce()])
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['done', 'skipped'])
    const done = outcomes.find((o) => o.outcome === 'done') as Extract<RetentionOutcome, { outcome: 'done' }>
    const skipped = outcomes.find((o) => o.outcome === 'skipped') as Extract<RetentionOutcome, { outcome: 'skipped' }>
    const winner = outcomes[0] === done ? 'indexer-a' : 'indexer-b'
    expect(skipped.holder).toBe(winner)
    expect([done.result.alerts.indices.length, done.result.incidents.deleted, done.result.problems.deleted]).toEqual([3, 4, 2])
    expect(await contents(es, prefix)).toEqual(expected(prefix))

    // The lease lasts the interval after the run: the other instance does not run again before it ends.
    const loser = winner === 'indexer-a' ? b : a
    expect((await loser.runOnce()).outcome).toBe('skipped')
    // One log line per run, saying what was deleted.
    const runLines = lines.filter((l) => l.msg === 'retention run done')
    expect(runLines).toHaveLength(1)
    expect(runLines[0]).toMatchObject({ holder: winner, alertMonths: ['2026.06', '2026.08'], incidents: 4, problems: 2 })
    const text = await registry.metrics()
    expect(text).toContain('opsreview_retention_runs_total{outcome="done"} 1')
    expect(text).toContain('opsreview_retention_runs_total{outcome="skipped"} 2')
    expect(text).toContain('opsreview_retention_deleted_total{kind="incidents"} 4')
    expect(text).toContain('opsreview_retention_deleted_total{kind="alert-months"} 2')
    expect(text).toContain(`opsreview_retention_last_success_timestamp_seconds ${NOW / 1000}`)
  })

  it('two runs at once without the lease (one lost it mid-run) both complete, delete each document once, and leave the same result', async () => {
    const { es, prefix } = await seeded()
    const [a, b] = await Promise.all([runRetention(es, prefix, SETTINGS, NOW), runRetention(es, prefix, SETTINGS, NOW)])
    expect(a.incidents.deleted + b.incidents.deleted).toBe(4)
    expect(a.problems.deleted + b.problems.deleted).toBe(2)
    expect(await contents(es, prefix)).toEqual(expected(prefix))
  })

  it('a failed run is counted by its code, logged and gives the lease up, so the next attempt of any instance retries', async () => {
    const { es, prefix } = await seeded()
    const n = indexNames(prefix)
    const registry = new Registry()
    const metrics = registerRetentionMetrics(registry)
    const { logger, lines } = captureLogs()
    const scheduler = (client: Client, holder: string) => new RetentionScheduler({ es: client, prefix, settings: SETTINGS, intervalMs: 3_600_000, firstDelayMs: 0, holder, logger, metrics, now: () => NOW })
    const failures = () => lines.filter((l) => l.msg === 'retention run failed; it is tried again')

    // Elasticsearch unreachable: an outage; the run fails and does not throw.
    const down = new Client({ node: 'http://127.0.0.1:1', maxRetries: 0 })
    onTestFinished(() => down.close())
    expect((await scheduler(down, 'indexer-a').runOnce()).outcome).toBe('failed')
    expect(failures()).toMatchObject([{ level: 40, code: 'es-unavailable' }])
    expect(await registry.metrics()).toContain('opsreview_retention_runs_total{outcome="failed"} 1')
    expect(await registry.metrics()).toContain('opsreview_retention_failures_total{code="es-unavailable"} 1')

    // Reachable, the incidents index closed: the lease is taken, the run fails in its plan, the lease goes back.
    await es.indices.close({ index: n.incidents.first })
    expect((await scheduler(es, 'indexer-a').runOnce()).outcome).toBe('failed')
    // The 400 index_closed_exception is the cluster's to fix (an index to open), as the catalogue reads it.
    expect(failures().map((l) => l.code)).toEqual(['es-unavailable', 'es-blocked'])
    expect(await registry.metrics()).toContain('opsreview_retention_runs_total{outcome="failed"} 2')
    expect(await registry.metrics()).toContain('opsreview_retention_failures_total{code="es-blocked"} 1')
    const lease = await es.get<{ holder: string; running: boolean; expiresAt: string }>({ index: retentionLeaseIndex(prefix), id: 'retention' })
    expect(lease._source).toMatchObject({ holder: 'indexer-a', running: false, expiresAt: new Date(NOW).toISOString() })

    await es.indices.open({ index: n.incidents.first, wait_for_active_shards: 1 })
    const retried = await scheduler(es, 'indexer-b').runOnce()
    expect(retried.outcome, JSON.stringify(retried)).toBe('done')
    expect(await contents(es, prefix)).toEqual(expected(prefix))
  })

  it('a lease renewal still in flight when the run ends is waited for: the final write keeps the lease, marked not running', async () => {
    const { es, prefix } = await seeded()
    const { logger, lines } = captureLogs()
    const leaseWrites: { running: boolean; status?: number }[] = []
    const sent: Promise<unknown>[] = []
    let renewalStarted!: () => void
    const renewing = new Promise<void>((resolve) => { renewalStarted = resolve })
    let finalWritten!: () => void
    const finalWrite = new Promise<void>((resolve) => { finalWritten = resolve })
    // The run ends only once a renewal is on its way; that renewal is held back until the final write is
    // done (or 300 ms, as a scheduler that waits for it sends no final write before).
    const index = es.index.bind(es)
    es.index = (async (...args: Parameters<typeof index>) => {
      const params = args[0] as { index: string; document?: { running: boolean } }
      if (params.index !== retentionLeaseIndex(prefix)) return index(...args)
      const write = { running: params.document!.running, status: undefined as number | undefined }
      leaseWrites.push(write)
      const attempt = (async () => {
        if (leaseWrites.length > 1 && write.running) {
          renewalStarted()
          await Promise.race([finalWrite, new Promise((resolve) => setTimeout(resolve, 300))])
        }
        try {
          const r = await index(...args)
          write.status = 200
          return r
        } catch (err) {
          write.status = (err as { meta?: { statusCode?: number } }).meta?.statusCode
          throw err
        } finally {
          if (!write.running) finalWritten()
        }
      })()
      sent.push(attempt.catch(() => undefined))
      return attempt
    }) as typeof es.index
    const count = es.count.bind(es)
    es.count = (async (...args: Parameters<typeof count>) => {
      await renewing
      return count(...args)
    }) as typeof es.count

    // A renewal every second (a third of the interval, at least 1 s).
    const s = new RetentionScheduler({ es, prefix, settings: SETTINGS, intervalMs: 3000, firstDelayMs: 0, holder: 'indexer-a', logger, now: () => NOW })
    expect((await s.runOnce()).outcome).toBe('done')
    // A renewal the run did not wait for may still be on its way: its answer counts too.
    await Promise.all(sent)
    // The acquire, at least one renewal, then the final write; none refused.
    expect(leaseWrites.length).toBeGreaterThanOrEqual(3)
    expect(leaseWrites.at(-1)).toEqual({ running: false, status: 200 })
    expect(leaseWrites.filter((w) => w.status !== 200)).toEqual([])
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([])
    const lease = await es.get<{ holder: string; running: boolean }>({ index: retentionLeaseIndex(prefix), id: 'retention' })
    expect(lease._source).toMatchObject({ holder: 'indexer-a', running: false })
  })

  it('the lease: taken once of two racing takers, refused while held, taken again once expired', async () => {
    const { prefix, es } = indicesOfTest('ret')
    const takers = Array.from({ length: 4 }, (_, i) => new RetentionLease(es, prefix, `t${i}`))
    const taken = await Promise.all(takers.map((t) => t.acquire(NOW, 60_000)))
    expect(taken.filter((r) => r.ok)).toHaveLength(1)
    const holder = takers[taken.findIndex((r) => r.ok)]!
    const other = takers.find((t) => t !== holder)!
    expect(await other.acquire(NOW + 59_999, 60_000)).toEqual({ ok: false, holder: holder.holder, expiresAt: new Date(NOW + 60_000).toISOString() })
    expect(await holder.extend(NOW + 30_000, 60_000)).toBe(true)
    expect((await other.acquire(NOW + 60_000, 60_000)).ok).toBe(false)
    expect((await other.acquire(NOW + 90_000, 60_000)).ok).toBe(true)
    // The old holder lost it: extending fails instead of overwriting the new holder's lease.
    expect(await holder.extend(NOW + 90_001, 60_000)).toBe(false)
    expect((await holder.acquire(NOW + 90_002, 60_000)).ok).toBe(false)
    // An operator's one-shot run takes a lease kept after a run, never one with a run under way.
    expect((await holder.acquire(NOW + 90_003, 60_000, { takeResting: true })).ok).toBe(false)
    expect(await other.extend(NOW + 90_004, 60_000, false)).toBe(true)
    expect((await holder.acquire(NOW + 90_005, 60_000)).ok).toBe(false)
    expect((await holder.acquire(NOW + 90_006, 60_000, { takeResting: true })).ok).toBe(true)
  })

  it('stop during a run: the run ends between two requests, not as a failure, and the lease is given back before stop resolves', async () => {
    const { es, prefix } = await seeded()
    const before = await contents(es, prefix)
    const registry = new Registry()
    const metrics = registerRetentionMetrics(registry)
    const { logger, lines } = captureLogs()
    // The run is held in its plan until stop is called: a run under way at SIGTERM.
    let planning!: () => void
    const inPlan = new Promise<void>((resolve) => { planning = resolve })
    let stopCalled!: () => void
    const stopping = new Promise<void>((resolve) => { stopCalled = resolve })
    const count = es.count.bind(es)
    es.count = (async (...args: Parameters<typeof count>) => {
      planning()
      await stopping
      return count(...args)
    }) as typeof es.count
    const s = new RetentionScheduler({ es, prefix, settings: SETTINGS, intervalMs: 3_600_000, firstDelayMs: 0, holder: 'indexer-a', logger, metrics, now: () => NOW })

    const run = s.runOnce()
    await inPlan
    const stopped = s.stop()
    stopCalled()
    await stopped
    // Read before anything else: stop resolved only after the lease went back, as the indexer closes the client next.
    const lease = await es.get<{ holder: string; running: boolean; expiresAt: string }>({ index: retentionLeaseIndex(prefix), id: 'retention' })
    expect(lease._source).toMatchObject({ holder: 'indexer-a', running: false, expiresAt: new Date(NOW).toISOString() })
    expect(await run).toEqual({ outcome: 'stopped' })
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([])
    expect(lines.map((l) => l.msg)).toContain('retention run stopped part-way for shutdown; the next run does the rest')
    const text = await registry.metrics()
    expect(text).not.toContain('opsreview_retention_runs_total{outcome="failed"}')
    expect(text).not.toMatch(/opsreview_retention_failures_total\{/)
    expect(await contents(es, prefix)).toEqual(before)
  })

  it('stop aborts the request in flight: an Elasticsearch that hangs does not hold the shutdown', async () => {
    const { es, prefix } = await seeded()
    const { logger } = captureLogs()
    let planning!: () => void
    const inPlan = new Promise<void>((resolve) => { planning = resolve })
    // A count that never answers: only the request's abort signal ends it (without, stop() never returns).
    let aborted = false
    es.count = ((_params: unknown, options?: { signal?: AbortSignal }) => new Promise((_resolve, reject) => {
      planning()
      options?.signal?.addEventListener('abort', () => { aborted = true; reject(options.signal!.reason as Error) })
    })) as unknown as typeof es.count
    const s = new RetentionScheduler({ es, prefix, settings: SETTINGS, intervalMs: 3_600_000, firstDelayMs: 0, holder: 'indexer-a', logger, now: () => NOW })
    const run = s.runOnce()
    await inPlan
    expect(aborted).toBe(false)
    await s.stop()
    expect(aborted).toBe(true)
    expect(await run).toEqual({ outcome: 'stopped' })
  })

  it('the schedule: the first run comes shortly after start; stop ends the schedule', async () => {
    const { es, prefix } = await seeded()
    const { logger, lines } = captureLogs()
    const s = new RetentionScheduler({ es, prefix, settings: SETTINGS, intervalMs: 3_600_000, firstDelayMs: 10, holder: 'indexer-a', logger, now: () => NOW })
    s.start()
    onTestFinished(() => s.stop())
    await waitFor(() => (lines.some((l) => l.msg === 'retention run done') ? true : undefined), { what: 'the first scheduled run' })
    expect(await contents(es, prefix)).toEqual(expected(prefix))
    await s.stop()
  })
})
