// The review's response times against a real Prometheus: what the API tests (response-times.int.test.ts) and
// the page's (response-times-dashboard.int.test.ts) share, the series with their p95s worked out by hand and
// the review app reading them.
import { expect } from 'vitest'
import { defaultResponseTimeQuery, RESPONSE_TIME_TIMEOUT_MAX_MS, type ResponseTimeSource } from '@opsreview/review/response-times'
import { ensureIndices } from '@opsreview/search-index/templates'
import { captureLogs, indicesOfTest, serve } from '@opsreview/testing'
import { startPrometheus, type HistogramSeries } from '@opsreview/testing/prometheus'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { createReviewMetrics } from './metrics.ts'

// Response bodies are asserted field by field; typing each shape here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any

export const READ = 'read-token'
export const FROM = '2026-11-30T00:00:00Z'
export const TO = '2026-12-01T00:00:00Z'
export const WINDOW = '?from=2026-11-30&to=2026-12-01'

export const buckets = (counts: number[]) => Object.fromEntries(['0.1', '0.25', '0.5', '1', '+Inf'].map((le, i) => [le, counts[i]!]))
/**
 * The p95 worked out by hand, as histogram_quantile interpolates within the bucket the 95th percentile falls
 * in. checkout: 100 requests, the 95th in (0.25, 0.5], which holds the 91st to the 100th:
 * 0.25 + 0.25 × (95 − 90) / 10 = 0.375 s. payments: 200, the 190th in (0.5, 1], the 101st to the 200th:
 * 0.5 + 0.5 × (190 − 100) / 100 = 0.95 s. idle had requests before the window and none in it. The series
 * without a service label is no service's.
 */
export const series: HistogramSeries[] = [
  { labels: { service: 'checkout' }, inWindow: buckets([50, 90, 100, 100, 100]) },
  { labels: { service: 'payments' }, inWindow: buckets([0, 0, 100, 200, 200]) },
  { labels: { service: 'idle' }, inWindow: buckets([0, 0, 0, 0, 0]), before: buckets([3, 5, 7, 7, 7]) },
  { labels: {}, inWindow: buckets([1, 1, 1, 1, 1]) },
]

/** The review app with its clock at `now` (the window's end), reading response times from `source` when given. */
export async function reviewOf(name: string, source: ResponseTimeSource | undefined, now = TO) {
  const { url, get, lines, reads } = await startReview(name, source, now)
  return Object.assign(get, { url, lines, reads })
}

async function startReview(name: string, source: ResponseTimeSource | undefined, now: string) {
  const { prefix, es } = indicesOfTest(name)
  await ensureIndices(es, prefix)
  const { logger, lines } = captureLogs()
  const metrics = createReviewMetrics({ breakerState: () => 'closed' })
  const url = await serve(createReviewApp({
    es, commands: { publish: async () => { throw new Error('no decisions in these tests') } }, commandsTopic: 'unused', logger, clock: () => new Date(now),
    readTokens: [READ], writeTokens: ['write-token'], indexPrefix: prefix, waitTimeoutMs: 500, publicDir: defaultPublicDir,
    deadLetters: async () => { throw new Error('not counted here') }, ...(source ? { responseTimes: source } : {}), metrics,
  }))
  /** `opsreview_review_response_time_reads_total` by `read/outcome`. */
  const reads = async () => Object.fromEntries((await metrics.registry.getSingleMetric('opsreview_review_response_time_reads_total')!.get()).values.map((v) => [`${String(v.labels.read)}/${String(v.labels.outcome)}`, v.value]))
  const get = async (path: string): Promise<Json> => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${READ}` } })
    expect(res.status, path).toBe(200)
    return res.headers.get('content-type')?.includes('json') ? res.json() : res.text()
  }
  return { url, get, lines, reads }
}

// The longest wait allowed: it catches a Prometheus that hangs, not a slow one, and a month's histograms read
// beside Chromium on a loaded 2-core host are slow.
export const source = (url: string, query = defaultResponseTimeQuery): ResponseTimeSource => ({ url, query, name: 'p95', timeoutMs: RESPONSE_TIME_TIMEOUT_MAX_MS })
// The look-back's two periods, each with its own series (`month`), as a month's histograms are not the month
// before's: December runs, with the clock at 08:00 on its first day.
export const LOOKBACK_NOW = '2026-12-01T08:00:00Z'
const month = (label: string, from: string, until: string) => (service: string, env: string, counts: number[]): HistogramSeries =>
  ({ labels: { service, env, month: label }, inWindow: buckets(counts), window: { from: Date.parse(from), until: Date.parse(until) } })
const october = month('2026-10', '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z')
const november = month('2026-11', '2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z')
const december = month('2026-12', '2026-12-01T00:00:00Z', LOOKBACK_NOW)
// Requests after the clock's now: a running period asked over the whole of it would count them.
const laterInDecember = month('2026-12-later', '2026-12-05T00:00:00Z', '2026-12-10T00:00:00Z')
/**
 * The p95s worked out as above. October (production only): checkout 950 ms, payments and idle 375 ms. November:
 * checkout 375 ms in production and 950 ms in staging, together 300 requests, the 285th in (0.5, 1], the 201st to
 * the 300th: 0.5 + 0.5 × (285 − 200) / 100 = 0.925 s; payments 950 ms; idle no requests; newcomer 95 ms (all 100
 * under 0.1 s: 0.1 × 95 / 100). December so far: checkout 95 ms; the requests after now are not counted.
 */
export const twoMonths: HistogramSeries[] = [
  october('checkout', 'production', [0, 0, 100, 200, 200]), october('payments', 'production', [50, 90, 100, 100, 100]), october('idle', 'production', [50, 90, 100, 100, 100]),
  november('checkout', 'production', [50, 90, 100, 100, 100]), november('checkout', 'staging', [0, 0, 100, 200, 200]), november('payments', 'production', [0, 0, 100, 200, 200]),
  november('idle', 'production', [0, 0, 0, 0, 0]), november('newcomer', 'production', [100, 100, 100, 100, 100]),
  december('checkout', 'production', [100, 100, 100, 100, 100]), laterInDecember('checkout', 'production', [0, 0, 100, 200, 200]),
]
export const byEnvironmentQuery = 'histogram_quantile(0.95, sum by (service, le) (increase(http_request_duration_seconds_bucket{env=~"$environments"}[$range])))'
export const startTwoMonths = () => startPrometheus({ from: Date.parse('2026-10-01T00:00:00Z'), until: Date.parse(LOOKBACK_NOW), series: twoMonths })
export const lookbackOf = (name: string, s: ResponseTimeSource | undefined) => reviewOf(name, s, LOOKBACK_NOW)
