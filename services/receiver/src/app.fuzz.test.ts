// Property-based fuzzing of the receiver in-process, with fake Kafka and spool: whatever arrives, the
// answer is never a 5xx, a 4xx names a field, and nothing invalid is acknowledged. 2,100 cases per run;
// OPSREVIEW_FUZZ_SCALE multiplies them (the 10,000-webhook measurement in docs/receiver-validation.md).
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import { checkEvent } from '@opsreview/ingest/intake'
import { defaultIngestOptions } from '@opsreview/ingest/event'
import type { AlertEvent } from '@opsreview/schemas'
import { serve } from '@opsreview/testing'
import { fakeReceiver, post, TEST_NOW, TEST_TOPICS } from './test-fakes.ts'
import { hostileValue, mixedWebhook, mutatedFixture, rawBody } from './fuzz-arbitraries.ts'

const SCALE = Number(process.env.OPSREVIEW_FUZZ_SCALE ?? '1') || 1
const runs = (n: number) => Math.max(1, Math.round(n * SCALE))
const ctx = { receivedAt: TEST_NOW, options: defaultIngestOptions }
// Generous: the default 2,100 cases take about half a minute on a loaded two-core machine.
const TIMEOUT_MS = runs(120_000)
const routes = ['/webhooks/alertmanager', '/webhooks/pingdom', '/api/v1/reports'] as const

interface Problem { status: number; code: string; errors?: { path: unknown; message: unknown }[] }
interface Accepted { accepted: number; published: number; rejected: { index: number; reason: string; errors: { path: string; message: string }[] }[] }

const statuses = new Map<number, number>()
const started = performance.now()
// A scaled run is a measurement: it reports the answers by status and the time taken.
afterAll(() => {
  if (SCALE !== 1) console.log(JSON.stringify({ requests: [...statuses.values()].reduce((a, b) => a + b, 0), statuses: Object.fromEntries(statuses), seconds: Math.round((performance.now() - started) / 100) / 10 }))
})

/** The invariants of every answer: no 5xx; a 4xx is problem+json naming at least one field. */
async function expectSane(res: Response, what: string): Promise<unknown> {
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
  const text = await res.text()
  expect(res.status, `${what}: ${text.slice(0, 300)}`).toBeLessThan(500)
  if (res.status >= 400) {
    expect(res.headers.get('content-type'), what).toMatch(/^application\/problem\+json/)
    const problem = JSON.parse(text) as Problem
    expect(problem.errors?.length, `${what}: ${text.slice(0, 300)}`).toBeGreaterThan(0)
    for (const e of problem.errors ?? []) {
      expect(typeof e.path).toBe('string')
      expect(typeof e.message).toBe('string')
    }
  }
  return text ? JSON.parse(text) : undefined
}

function newIds() {
  let n = 0
  return () => `fp-${(n++).toString(36)}`
}

describe('receiver fuzz (in-process)', () => {
  it('answers any JSON value on any route without a 5xx', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    await fc.assert(fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(fc.jsonValue(), hostileValue), async (route, value) => {
      await expectSane(await post(`${url}${route}`, JSON.stringify(value) ?? 'null'), route)
    }), { numRuns: runs(400) })
  }, TIMEOUT_MS)

  it('answers mutated Alertmanager and Pingdom fixtures without a 5xx, acknowledging only valid events', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const kinds = fc.oneof(
      mutatedFixture('alertmanager').map((body) => ({ route: routes[0], body })),
      mutatedFixture('pingdom').map((body) => ({ route: routes[1], body })),
    )
    await fc.assert(fc.asyncProperty(kinds, async ({ route, body }) => {
      const spooled = r.spool.records.length
      const published = r.publisher.sent.get(TEST_TOPICS.alerts)?.length ?? 0
      const res = await post(`${url}${route}`, body)
      await expectSane(res, route)
      const events = [
        ...r.spool.records.slice(spooled).map((rec) => JSON.parse(rec.value) as AlertEvent),
        ...(r.publisher.sent.get(TEST_TOPICS.alerts) ?? []).slice(published).map((m) => JSON.parse(String(m.value)) as AlertEvent),
      ]
      for (const e of events) expect(checkEvent(e, ctx)).toEqual([])
    }), { numRuns: runs(600) })
  }, TIMEOUT_MS)

  it('publishes the good alerts of mixed webhooks and dead-letters every refused one', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    let notification = 0
    await fc.assert(fc.asyncProperty(mixedWebhook(newIds()), async ({ body: generated, bad }) => {
      // Each a notification of its own: the same one again within minutes (fast-check shrinking replays a
      // counterexample) is taken for Alertmanager's retry, whose refused alerts are not dead-lettered twice
      // (app.test.ts tests that).
      const body = typeof generated.groupKey === 'string' ? { ...generated, groupKey: `${generated.groupKey}#${notification++}` } : generated
      const before = { alerts: r.publisher.sent.get(TEST_TOPICS.alerts)?.length ?? 0, dead: r.publisher.sent.get(TEST_TOPICS.rejected)?.length ?? 0 }
      const res = await post(`${url}/webhooks/alertmanager`, body)
      const answer = await expectSane(res, 'alertmanager')
      if (res.status >= 400 && res.status !== 422) {
        // Refused as a whole (a lone surrogate anywhere in it): nothing published, the request dead-lettered once.
        expect(r.publisher.sent.get(TEST_TOPICS.alerts)?.length ?? 0).toBe(before.alerts)
        await expect.poll(() => (r.publisher.sent.get(TEST_TOPICS.rejected)?.length ?? 0) - before.dead).toBe(1)
        const [letter] = (r.publisher.sent.get(TEST_TOPICS.rejected) ?? []).slice(before.dead).map((m) => JSON.parse(String(m.value)) as DeadLetterEnvelope)
        expect(letter!.detail).toMatchObject({ status: res.status, requestId: res.headers.get('x-request-id') })
        return
      }
      // 422: every alert refused (and dead-lettered), listed as in a 200.
      const { accepted, published, rejected } = answer as Accepted
      expect(res.status === 422).toBe(accepted === 0 && rejected.length > 0)
      const alerts = body.alerts as unknown[]
      expect(accepted + rejected.length).toBe(alerts.length)
      // Every generated good alert passes; a "bad" one may still be valid (a hostile value can be harmless).
      for (const { index } of rejected) expect(bad[index], JSON.stringify(rejected)).toBe(true)
      for (const x of rejected) expect(x.errors[0]!.path).toMatch(new RegExp(`^/alerts/${x.index}(/|$)`))
      const events = (r.publisher.sent.get(TEST_TOPICS.alerts) ?? []).slice(before.alerts).map((m) => JSON.parse(String(m.value)) as AlertEvent)
      expect(events).toHaveLength(published)
      for (const e of events) expect(checkEvent(e, ctx)).toEqual([])
      await expect.poll(() => (r.publisher.sent.get(TEST_TOPICS.rejected)?.length ?? 0) - before.dead).toBeGreaterThanOrEqual(rejected.length)
      const letters = (r.publisher.sent.get(TEST_TOPICS.rejected) ?? []).slice(before.dead).map((m) => JSON.parse(String(m.value)) as DeadLetterEnvelope)
      expect(letters.map((l) => l.detail?.index).sort()).toEqual(rejected.map((x) => x.index).sort())
    }), { numRuns: runs(800) })
  }, TIMEOUT_MS)

  it('answers hostile raw bodies, encodings and nesting without a 5xx', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    await fc.assert(fc.asyncProperty(fc.constantFrom(...routes), rawBody, async (route, { body, headers }) => {
      await expectSane(await post(`${url}${route}`, body, headers), `${route} ${JSON.stringify(headers)}`)
    }), { numRuns: runs(300) })
  }, TIMEOUT_MS)
})
