import { describe, expect, it } from 'vitest'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { openApiDocument } from '@opsreview/review/openapi'
import { digestMarkdown } from '@opsreview/review/digest'
import { noTeams } from '@opsreview/review/teams'
import { ensureIndices, indexNames } from '@opsreview/search-index/templates'
import { indicesOfTest } from '@opsreview/testing'
import { startPrometheus, type HistogramSeries } from '@opsreview/testing/prometheus'
import { buckets, byEnvironmentQuery, FROM, lookbackOf, reviewOf, series, source, startTwoMonths, TO, WINDOW, type Json } from './test-response-times.ts'

// ajv-formats ships CommonJS whose default export is the plugin itself.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

const section = (md: string) => md.slice(md.indexOf('## Response times'), md.indexOf('## Resolved in the window'))
const validResponseTimes = new Ajv2020({ strict: false }).compile((openApiDocument as Json).components.schemas.ResponseTimes)

describe('response times of the morning review (real Prometheus)', () => {
  it("gives each service's p95 over the window in the review and review.md, none for a service without requests", async () => {
    const prometheus = await startPrometheus({ from: Date.parse(FROM), until: Date.parse(TO), series })
    const get = await reviewOf('rtimes', source(prometheus.url))
    const review = await get(`/api/v1/review${WINDOW}`)
    expect(review.responseTimes).toEqual({ status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 375 }, { service: 'idle', ms: null }, { service: 'payments', ms: 950 }] })
    expect(validResponseTimes(review.responseTimes), JSON.stringify(validResponseTimes.errors)).toBe(true)
    expect(section(await get(`/api/v1/review.md${WINDOW}`))).toBe('## Response times\n\n| service | p95 |\n| --- | --- |\n| checkout | 375 ms |\n| idle | – |\n| payments | 950 ms |\n\n')
    expect(await get.reads()).toEqual({ 'review/ok': 2 })
    // A scope naming services keeps their rows only.
    expect((await get(`/api/v1/review${WINDOW}&service=payments`)).responseTimes.items).toEqual([{ service: 'payments', ms: 950 }])
  })

  it("asks for the review's environments where the query says $environments, each name matched as it is", async () => {
    // checkout's p95 differs by environment: 375 ms in production, 950 ms in staging, 95 ms in eu.prod (all
    // 100 requests under 0.1 s: 0.1 × 95 / 100), and 950 ms in eu-prod, which an unescaped eu.prod would match.
    const byEnvironment: HistogramSeries[] = [
      { labels: { service: 'checkout', env: 'production' }, inWindow: buckets([50, 90, 100, 100, 100]) },
      { labels: { service: 'checkout', env: 'staging' }, inWindow: buckets([0, 0, 100, 200, 200]) },
      { labels: { service: 'checkout', env: 'eu.prod' }, inWindow: buckets([100, 100, 100, 100, 100]) },
      { labels: { service: 'checkout', env: 'eu-prod' }, inWindow: buckets([0, 0, 100, 200, 200]) },
    ]
    const prometheus = await startPrometheus({ from: Date.parse(FROM), until: Date.parse(TO), series: byEnvironment })
    const get = await reviewOf('rtenv', source(prometheus.url, byEnvironmentQuery))
    const checkout = async (scope: string) => (await get(`/api/v1/review${WINDOW}${scope}`)).responseTimes
    expect(await checkout('&environment=production')).toEqual({ status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 375 }] })
    expect(await checkout('&environment=eu.prod')).toEqual({ status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 95 }] })
    // Two environments are one histogram: 200 requests, the 190th in (0.1, 0.25], which holds the 151st to the
    // 190th: 0.1 + 0.15 × (190 − 150) / 40 = 0.25 s.
    expect((await checkout('&environment=production&environment=eu.prod')).items).toEqual([{ service: 'checkout', ms: 250 }])
    // Every environment (the app's default scope here): 600 requests, the 570th in (0.5, 1], the 401st to the
    // 600th: 0.5 + 0.5 × (570 − 400) / 200 = 0.925 s.
    expect((await checkout('')).items).toEqual([{ service: 'checkout', ms: 925 }])
  })

  it('reads a Prometheus that asks for basic auth with the user and password of its URL, and says so when they are wrong', async () => {
    // Prometheus's web config takes a bcrypt hash: this is the password's, made once (cost 4, as a test needs no more).
    const prometheus = await startPrometheus({ from: Date.parse(FROM), until: Date.parse(TO), series, basicAuthUsers: { opsreview: { password: 's3cret:with@chars', bcrypt: '$2b$04$gxBfUl4l2L.QA.SNckkpjOIHtaBHjdIHYUpcNXW6UQbiCy8dCqFcm' } } })
    const withUser = (userinfo: string) => prometheus.url.replace('//', `//${userinfo}@`)
    const get = await reviewOf('rtauth', source(withUser('opsreview:s3cret%3Awith%40chars')))
    expect((await get(`/api/v1/review${WINDOW}`)).responseTimes).toEqual({ status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 375 }, { service: 'idle', ms: null }, { service: 'payments', ms: 950 }] })
    for (const [name, url] of [['rtnoauth', prometheus.url], ['rtbadauth', withUser('opsreview:wrong-password')]] as const) {
      const refused = (await (await reviewOf(name, source(url)))(`/api/v1/review${WINDOW}`)).responseTimes
      expect(refused, name).toEqual({ status: 'unavailable', name: 'p95', error: expect.stringMatching(/^HTTP 401\b/) })
      expect(JSON.stringify(refused)).not.toContain('wrong-password')
    }
  })

  it('answers 200 and says Prometheus gave no response times when it is down, or refuses the query', async () => {
    const prometheus = await startPrometheus({ from: Date.parse(FROM), until: Date.parse(TO), series })
    const bad = await reviewOf('rtbad', source(prometheus.url, 'histogram_quantile(0.95, http_request_duration_seconds_bucket[$range]'))
    const refused = (await bad(`/api/v1/review${WINDOW}`)).responseTimes
    expect(refused).toMatchObject({ status: 'unavailable', name: 'p95', error: expect.stringMatching(/^HTTP 400: .*parse error/) })
    await prometheus.stop()
    const get = await reviewOf('rtdown', source(prometheus.url))
    const review = await get(`/api/v1/review${WINDOW}`)
    expect(review.responseTimes).toEqual({ status: 'unavailable', name: 'p95', error: expect.stringContaining('ECONNREFUSED') })
    expect(validResponseTimes(review.responseTimes), JSON.stringify(validResponseTimes.errors)).toBe(true)
    // The rest of the review is there.
    expect(review.window).toMatchObject({ complete: true })
    expect(section(await get(`/api/v1/review.md${WINDOW}`))).toMatch(/^## Response times\n\n_No response times from Prometheus: connect ECONNREFUSED 127\.0\.0\.1:\d+\._\n\n$/)
    // Told to the operator as well, once per review read (the JSON and the Markdown), with the request's id.
    const warned = get.lines.filter((l) => l.msg === 'review without response times: Prometheus gave none')
    expect(warned).toHaveLength(2)
    // And counted, for the operator's alerting.
    expect(await get.reads()).toEqual({ 'review/unavailable': 2 })
    expect(warned[0]).toMatchObject({ level: 40, error: expect.stringContaining('ECONNREFUSED'), reqId: expect.any(String) })
  })

  it('gives them in the morning digest, which renders the review of its window', async () => {
    const prometheus = await startPrometheus({ from: Date.parse(FROM), until: Date.parse(TO), series })
    const { prefix, es } = indicesOfTest('rtdigest')
    await ensureIndices(es, prefix)
    const n = indexNames(prefix)
    const digest = await digestMarkdown(es, { alerts: n.alerts.alias, incidents: n.incidents.alias, problems: n.problems.alias },
      { zone: 'UTC', scope: { environments: [], teams: noTeams }, responseTimes: source(prometheus.url) }, Date.parse(TO), { fromMs: Date.parse(FROM), toMs: Date.parse(TO) })
    expect(section(digest.markdown)).toBe('## Response times\n\n| service | p95 |\n| --- | --- |\n| checkout | 375 ms |\n| idle | – |\n| payments | 950 ms |\n\n')
    expect(digest.responseTimes.status).toBe('ok')
    // Prometheus down: the digest says so, and gives the scheduler the reason to warn the operator with.
    await prometheus.stop()
    const without = await digestMarkdown(es, { alerts: n.alerts.alias, incidents: n.incidents.alias, problems: n.problems.alias },
      { zone: 'UTC', scope: { environments: [], teams: noTeams }, responseTimes: source(prometheus.url) }, Date.parse(TO), { fromMs: Date.parse(FROM), toMs: Date.parse(TO) })
    expect(section(without.markdown)).toMatch(/^## Response times\n\n_No response times from Prometheus: connect ECONNREFUSED/)
    expect(without.responseTimes).toEqual({ status: 'unavailable', name: 'p95', error: expect.stringMatching(/^connect ECONNREFUSED 127\.0\.0\.1:\d+$/) })
  })

  it('says response times are not configured when no Prometheus is named', async () => {
    const get = await reviewOf('rtnone', undefined)
    expect((await get(`/api/v1/review${WINDOW}`)).responseTimes).toEqual({ status: 'not-configured' })
    expect(section(await get(`/api/v1/review.md${WINDOW}`))).toBe('## Response times\n\n_Not configured (OPSREVIEW_PROMETHEUS_URL)._\n\n')
  })

})

const lookbackSection = (md: string) => md.slice(md.indexOf('## Response times'), md.indexOf('## Problems'))

/** The whole look-back answer against the OpenAPI `Lookback`, its referenced schemas resolved as openapi.int.test.ts does. */
function lookbackValidator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  const doc = openApiDocument as Json
  for (const s of Object.values(doc.components.schemas) as Json[]) if (s.$id) ajv.addSchema(s)
  ajv.addSchema(doc, 'urn:opsreview:review-openapi')
  return ajv.compile({ $ref: 'urn:opsreview:review-openapi#/components/schemas/Lookback' })
}

describe('response times of the monthly look-back (real Prometheus)', () => {
  const validLookback = lookbackValidator()

  it("gives each service's p95 of the period beside the previous period's, with the change, in the JSON and lookback.md", async () => {
    const prometheus = await startTwoMonths()
    const get = await lookbackOf('lbrt', source(prometheus.url, byEnvironmentQuery))
    const lookback = await get('/api/v1/lookback?period=month')
    expect(await get.reads()).toEqual({ 'lookback/ok': 1 })
    expect(lookback.period.label).toBe('2026-11')
    expect(lookback.responseTimes).toEqual({
      status: 'ok', name: 'p95', items: [
        { service: 'checkout', ms: 925, previousMs: 950, change: -25 },
        { service: 'idle', ms: null, previousMs: 375, change: null },
        { service: 'newcomer', ms: 95, previousMs: null, change: null },
        { service: 'payments', ms: 950, previousMs: 375, change: 575 },
      ],
    })
    expect(validLookback(lookback), JSON.stringify(validLookback.errors)).toBe(true)
    expect(lookbackSection(await get('/api/v1/lookback.md?period=month'))).toBe([
      '## Response times', '', '| service | p95 this period | previous (2026-10) | change |', '| --- | --- | --- | --- |',
      '| checkout | 925 ms | 950 ms | −25 ms |', '| idle | – | 375 ms | – |', '| newcomer | 95 ms | – | – |', '| payments | 950 ms | 375 ms | +575 ms |', '', '',
    ].join('\n'))
  })

  it("reads them in the look-back's scope, and a running period only up to now", async () => {
    const prometheus = await startTwoMonths()
    const get = await lookbackOf('lbrtscope', source(prometheus.url, byEnvironmentQuery))
    const scoped = await get('/api/v1/lookback?period=month&environment=production&service=checkout')
    expect(scoped.responseTimes).toEqual({ status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 375, previousMs: 950, change: -575 }] })
    // December up to 08:00: asked over 8 h at 08:00, without the requests of 5 to 10 December.
    const running = await get('/api/v1/lookback?period=month&at=2026-12&environment=production&service=checkout')
    expect(running.period).toMatchObject({ label: '2026-12', complete: false, until: '2026-12-01T08:00:00.000Z' })
    expect(running.responseTimes).toEqual({ status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 95, previousMs: 375, change: -280 }] })
    expect(validLookback(running), JSON.stringify(validLookback.errors)).toBe(true)
  })

  it('answers 200 and says Prometheus gave no response times when it is down', async () => {
    const prometheus = await startTwoMonths()
    await prometheus.stop()
    const get = await lookbackOf('lbrtdown', source(prometheus.url, byEnvironmentQuery))
    const lookback = await get('/api/v1/lookback?period=month')
    expect(lookback.responseTimes).toEqual({ status: 'unavailable', name: 'p95', error: expect.stringMatching(/^connect ECONNREFUSED 127\.0\.0\.1:\d+$/) })
    expect(validLookback(lookback), JSON.stringify(validLookback.errors)).toBe(true)
    // The rest of the look-back is there.
    expect(lookback.period).toMatchObject({ label: '2026-11', complete: true })
    expect(lookbackSection(await get('/api/v1/lookback.md?period=month'))).toMatch(/^## Response times\n\n_No response times from Prometheus: connect ECONNREFUSED 127\.0\.0\.1:\d+\._\n\n$/)
    const warned = get.lines.filter((l) => l.msg === 'look-back without response times: Prometheus gave none')
    expect(warned).toHaveLength(2)
    expect(await get.reads()).toEqual({ 'lookback/unavailable': 2 })
    expect(warned[0]).toMatchObject({ level: 40, error: expect.stringContaining('ECONNREFUSED'), reqId: expect.any(String) })
  })

  it('says they are not configured when no Prometheus is named', async () => {
    const get = await lookbackOf('lbrtnone', undefined)
    const lookback = await get('/api/v1/lookback?period=month')
    // No Prometheus, no read to count.
    expect(await get.reads()).toEqual({})
    expect(lookback.responseTimes).toEqual({ status: 'not-configured' })
    expect(validLookback(lookback), JSON.stringify(validLookback.errors)).toBe(true)
    expect(lookbackSection(await get('/api/v1/lookback.md?period=month'))).toBe('## Response times\n\n_Not configured (OPSREVIEW_PROMETHEUS_URL)._\n\n')
  })

})
