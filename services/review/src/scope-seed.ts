// The review's scope, seeded: incidents, problems and alerts of production, staging and test, for the
// OpenAPI and scope tests (the figures are worked out in scope.int.test.ts).
import { expect, onTestFinished } from 'vitest'
import { alertDocument, bulkAction, incidentDocument, problemDocument, type DocumentFor } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { cachedDeadLetterCount, countDeadLetters } from '@opsreview/review/dead-letters'
import { cleanupIndices, esClient, serve, uniqueName } from '@opsreview/testing'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { createReviewMetrics } from './metrics.ts'
import { commandsOnKafka } from './test-review-kafka.ts'
import { at, incident, NOW } from './fuzz-seed.ts'

export const READ = 'read-token'
export const WRITE = 'write-token'
const H = 3_600_000

function alertChange(fp: string, service: string, environment: string, status: 'firing' | 'resolved', time: string) {
  return {
    id: `${fp}-${status}-${time}`.replace(/[^a-z0-9]/gi, '').slice(0, 60), source: 'alertmanager', fingerprint: fp, status, severity: 'critical', service, environment,
    title: `${fp} ${status}`, labels: { alertname: fp }, startsAt: time, ...(status === 'resolved' ? { endsAt: time } : {}), receivedAt: time, links: [], origin: {},
  }
}

/**
 * Production: checkout (incident 1, open, critical; down 30 min) and search (incident 2). Staging: checkout
 * (incident 4, down 60 min) and junk from a malformed alert (incident 5, service "unknown").
 */
export async function startScopedReview() {
  const es = esClient()
  const prefix = uniqueName('revapi')
  cleanupIndices(prefix)
  await ensureIndices(es, prefix)
  const alertMonths = liveAlertMonths(es, prefix)
  const inc = incidentDocument(indexNames(prefix).incidents.alias)
  const prb = problemDocument(indexNames(prefix).problems.alias)
  const alr = alertDocument(alertMonths.indexFor)
  const docs: [DocumentFor, object][] = [
    [inc, incident(1, { title: 'Checkout down', status: 'open', severity: 'critical', openedAt: at(3), resolvedAt: null, resolvedBy: null, problemIds: ['prb-00000000000000000000000a'] })],
    [inc, incident(2, { title: 'Search latency', services: ['search'], openedAt: at(10), resolvedAt: at(9) })],
    [inc, incident(4, { title: 'Staging checkout down', environment: 'staging', groupKey: 'checkout|staging', openedAt: at(6), resolvedAt: at(5) })],
    [inc, incident(5, { title: 'Malformed alert junk', environment: 'test', services: ['unknown'], groupKey: 'unknown|test', openedAt: at(4), resolvedAt: at(3.5) })],
    [prb, { id: 'prb-00000000000000000000000a', kind: 'recurring', status: 'confirmed', title: 'Checkout keeps failing', signature: 'production|checkout|X', services: ['checkout'], environment: 'production', incidentIds: ['inc-000000000000000000000001'], incidentCount: 2, firstSeenAt: at(100), lastSeenAt: at(3), owner: null, notes: [], resolvedAt: null, reopenCount: 1, version: 4 }],
    [prb, { id: 'prb-00000000000000000000000b', kind: 'recurring', status: 'candidate', title: 'Staging flaps', signature: 'staging|checkout|X', services: ['checkout'], environment: 'staging', incidentIds: [], incidentCount: 4, firstSeenAt: at(100), lastSeenAt: at(3), owner: null, notes: [], version: 1 }],
    [alr, alertChange('prod-down', 'checkout', 'production', 'firing', at(2))], [alr, alertChange('prod-down', 'checkout', 'production', 'resolved', at(1.5))],
    [alr, alertChange('stg-down', 'checkout', 'staging', 'firing', at(6))], [alr, alertChange('stg-down', 'checkout', 'staging', 'resolved', at(5))],
  ]
  const ops = docs.map(([f, d]) => f(JSON.stringify(d)))
  await alertMonths.prepare(new Set(ops.map((o) => o.index)))
  const bulk = await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })
  expect(bulk.errors).toBe(false)

  const { admin, commandsTopic, logger, commands } = await commandsOnKafka()
  onTestFinished(async () => { await es.close() })
  const deadLetters = cachedDeadLetterCount((now) => countDeadLetters(admin, [uniqueName('never-created')], now, 24 * H), { ttlMs: 0, timeoutMs: 10_000, clock: () => Date.now() })
  const app = createReviewApp({
    es, commands, commandsTopic, logger, clock: () => new Date(NOW), readTokens: [READ], writeTokens: [WRITE], indexPrefix: prefix,
    waitTimeoutMs: 500, publicDir: defaultPublicDir, deadLetters, metrics: createReviewMetrics({ breakerState: () => commands.breakerState }),
    scope: { environments: ['production'], teams: new Map([['payments', ['checkout', 'billing']], ['discovery', ['search']]]) },
  })
  const url = await serve(app)
  return { app, url }
}
