import { describe, expect, it } from 'vitest'
import { browserPages } from '@opsreview/testing/chromium'
import { startPrometheus } from '@opsreview/testing/prometheus'
import { byEnvironmentQuery, FROM, lookbackOf, READ, reviewOf, series, source, startTwoMonths, TO } from './test-response-times.ts'

const newPage = browserPages()

describe('response times on the page (real Prometheus, Chromium)', () => {
  it('shows them on the page beside the service levels, says when Prometheus gave none, and hides the part when none is configured', async () => {
    // The page asks for the last 24 h: with the clock at the window's end, the window above.
    const prometheus = await startPrometheus({ from: Date.parse(FROM), until: Date.parse(TO), series })
    const page = await newPage()
    const rows = page.locator('#response-times tbody tr')
    await page.goto(`${(await reviewOf('rtpage', source(prometheus.url))).url}/#token=${READ}`)
    await expect.poll(() => rows.allTextContents(), { timeout: 15_000 }).toEqual(['checkout375 ms', 'idle–', 'payments950 ms'])
    expect(await page.locator('#response-times-name').textContent()).toBe('p95')
    expect(await page.locator('#response-times-note').isHidden()).toBe(true)

    await prometheus.stop()
    await page.goto(`${(await reviewOf('rtpagedown', source(prometheus.url))).url}/#token=${READ}`)
    const note = page.locator('#response-times-note')
    await expect.poll(() => note.textContent(), { timeout: 15_000 }).toMatch(/^No response times from Prometheus: connect ECONNREFUSED 127\.0\.0\.1:\d+\.$/)
    expect(await page.locator('#response-times').isHidden()).toBe(true)

    await page.goto(`${(await reviewOf('rtpagenone', undefined)).url}/#token=${READ}`)
    await expect.poll(() => page.locator('#service-levels tbody tr').count(), { timeout: 15_000 }).toBe(1)
    expect(await page.locator('#response-times-part').isHidden()).toBe(true)
  })

  it("shows them in the page's look-back, says when Prometheus gave none, and hides the part when none is configured", async () => {
    const prometheus = await startTwoMonths()
    const page = await newPage()
    const rows = page.locator('#lookback-response-times tbody tr')
    await page.goto(`${(await lookbackOf('lbrtpage', source(prometheus.url, byEnvironmentQuery))).url}/#token=${READ}`)
    await expect.poll(() => rows.allTextContents(), { timeout: 15_000 }).toEqual(['checkout925 ms950 ms−25 ms', 'idle–375 ms–', 'newcomer95 ms––', 'payments950 ms375 ms+575 ms'])
    expect(await page.locator('#lookback-response-times-name').textContent()).toBe('p95')
    expect(await page.locator('#lookback-response-times-part .lookback-previous').allTextContents()).toEqual(['2026-10', '2026-10'])
    // Slower is worse, as up is for downtime.
    expect(await page.locator('#lookback-response-times tr[data-service="payments"] [data-field="change"]').getAttribute('class')).toBe('change worse')
    expect(await page.locator('#lookback-response-times tr[data-service="checkout"] [data-field="change"]').getAttribute('class')).toBe('change better')
    expect(await page.locator('#lookback-response-times-note').isHidden()).toBe(true)

    await prometheus.stop()
    await page.goto(`${(await lookbackOf('lbrtpagedown', source(prometheus.url, byEnvironmentQuery))).url}/#token=${READ}`)
    const note = page.locator('#lookback-response-times-note')
    await expect.poll(() => note.textContent(), { timeout: 15_000 }).toMatch(/^No response times from Prometheus: connect ECONNREFUSED 127\.0\.0\.1:\d+\.$/)
    expect(await page.locator('#lookback-response-times').isHidden()).toBe(true)

    await page.goto(`${(await lookbackOf('lbrtpagenone', undefined)).url}/#token=${READ}`)
    await expect.poll(() => page.locator('#lookback-label').textContent(), { timeout: 15_000 }).toContain('2026-11')
    expect(await page.locator('#lookback-response-times-part').isHidden()).toBe(true)
  })
})
