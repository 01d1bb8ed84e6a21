import { describe, expect, it } from 'vitest'
import { launchChromium } from '@opsreview/testing/chromium'
import { READ, startScopedReview } from './scope-seed.ts'

// A load of the page is a request to the app and several searches on a shared, busy Elasticsearch: expect.poll's
// default second is not enough for it on a loaded machine.
const LOAD = { timeout: 15_000 }

// The seed (scope-seed.ts), production only, the clock at 2026-12-01T08:00Z = 09:00 in Berlin:
// - incident 1 "Checkout down", checkout, critical, opened 05:00Z on 1 December (06:00 in Berlin), problem
//   "Checkout keeps failing" (recurring, resolved once and come back); checkout's critical alert fired
//   06:00Z–06:30Z: 30 min down;
// - incident 2 "Search latency", search, warning, opened 22:00Z on 30 November (23:00 in Berlin: November).
// December in Berlin starts 2026-11-30T23:00Z, so up to now it has run 9 h = 540 min, and checkout was
// available 100 − 30/540 × 100 = 94.44 % of it (93.75 % if the month were UTC's: 8 h).
describe('the dashboard look-back and local time, in Chromium', () => {
  it('shows the look-back of the page\'s scope in the zone of its address', async () => {
    const { url } = await startScopedReview()
    const b = await launchChromium()
    try {
      const page = await b.newPage()
      const asked: string[] = []
      page.on('request', (r) => { if (r.url().includes('/api/v1/')) asked.push(`${new URL(r.url()).pathname}${new URL(r.url()).search}`) })
      // Script errors and refused API calls (a CSP violation is a console error too); the browser's own
      // favicon request is no call of the page's.
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()) })
      page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`) })
      await page.goto(`${url}/?tz=Europe/Berlin&environment=production#token=${READ}`)

      // The review in Berlin time: the window label names the zone, incident times are local.
      await expect.poll(() => page.locator('#window-label').textContent(), { timeout: 15_000 }).toBe('2026-11-30 09:00 – 2026-12-01 09:00 Europe/Berlin')
      expect(asked.find((a) => a.startsWith('/api/v1/review?'))).toBe('/api/v1/review?since=24h&environment=production&tz=Europe%2FBerlin')
      await expect.poll(() => page.locator('#open-incidents tbody tr').first().textContent(), LOAD).toContain('Checkout down')
      expect(await page.locator('#open-incidents tbody tr').first().textContent()).toContain('2026-12-01 06:00')

      // The default look-back: the last complete month, November, with incident 2 alone.
      await expect.poll(() => page.locator('#lookback-label').textContent(), LOAD).toBe('2026-11: 2026-11-01 00:00 – 2026-12-01 00:00 Europe/Berlin')
      expect(asked.find((a) => a.startsWith('/api/v1/lookback?'))).toBe('/api/v1/lookback?period=month&environment=production&tz=Europe%2FBerlin')
      const cell = (service: string, field: string) => page.locator(`#lookback-services tr[data-service="${service}"] td[data-field="${field}"]`).textContent()
      expect(await cell('search', 'incidents')).toBe('1 (+1)')
      expect(await cell('search', 'warning')).toBe('1')
      expect(await page.locator('#lookback-services tr[data-service="checkout"]').count()).toBe(0)
      expect(await page.locator('#lookback-totals [data-total="incidents"]').textContent()).toContain('1incident (0 critical, 1 warning, 0 info)')
      // Its Markdown names the period shown, not "last complete" again: asked at the click after a month ended
      // while the page was open, that would be another month.
      const lastMd = page.waitForResponse((r) => r.url().includes('/api/v1/lookback.md'))
      await page.locator('#lookback-markdown').click()
      expect(new URL((await lastMd).url()).search).toBe('?period=month&at=2026-11&environment=production&tz=Europe%2FBerlin')

      // December, running: checkout down 30 min of 540, its incident critical; search's incident was November's.
      await page.locator('#lookback-at').selectOption('2026-12')
      await expect.poll(() => page.locator('#lookback-label').textContent(), LOAD).toBe('2026-12: 2026-12-01 00:00 – 2027-01-01 00:00 Europe/Berlin')
      expect(asked.at(-1)).toBe('/api/v1/lookback?period=month&at=2026-12&environment=production&tz=Europe%2FBerlin')
      expect(await page.locator('#lookback-running').textContent()).toBe('The period is still running: service levels and response times up to 2026-12-01 09:00 Europe/Berlin.')
      expect(await cell('checkout', 'availability')).toBe('94.44 % (−5.56 pp)')
      expect(await cell('checkout', 'downtime')).toBe('30 min (+30 min)')
      // One outage, as lookback.md counts it.
      expect(await cell('checkout', 'interruptions')).toBe('1')
      expect(await cell('checkout', 'incidents')).toBe('1 (+1)')
      expect(await cell('checkout', 'critical')).toBe('1')
      expect(await cell('search', 'incidents')).toBe('0 (−1)')
      expect(await cell('search', 'downtime')).toBe('0 min (±0)')
      expect(await page.locator('.lookback-previous').first().textContent()).toBe('2026-11')
      // Least available first, as the API orders them.
      expect(await page.locator('#lookback-services tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-service')))).toEqual(['checkout', 'search'])
      expect(await page.locator('#lookback-totals [data-total="incidents"]').textContent()).toContain('1incident (1 critical, 0 warning, 0 info) (±0)')
      expect(await page.locator('#lookback-totals [data-total="downtime"]').textContent()).toBe('30 mindown, summed over services (+30 min)')
      const problem = page.locator('#lookback-problems tbody tr').first()
      expect(await problem.textContent()).toContain('Checkout keeps failing')
      expect(await problem.locator('[data-field="in-period"]').textContent()).toBe('1')
      expect(await problem.locator('.problem-status').textContent()).toBe('confirmed, came back 1×')

      // Its Markdown, with the same period, scope and zone.
      const md = page.waitForResponse((r) => r.url().includes('/api/v1/lookback.md'))
      await page.locator('#lookback-markdown').click()
      const res = await md
      expect(res.status()).toBe(200)
      expect(new URL(res.url()).search).toBe('?period=month&at=2026-12&environment=production&tz=Europe%2FBerlin')
      expect(await res.text()).toContain('# Monthly look-back 2026-12 (2026-12-01 – 2026-12-31 Europe/Berlin)')

      // The quarter: Q4 is running, so the default is Q3, which has nothing in production.
      await page.locator('#lookback-period').selectOption('quarter')
      await expect.poll(() => page.locator('#lookback-label').textContent(), LOAD).toBe('2026-Q3: 2026-07-01 00:00 – 2026-10-01 00:00 Europe/Berlin')
      expect(await page.locator('#lookback-at option').evaluateAll((os) => os.slice(0, 3).map((o) => o.getAttribute('value')))).toEqual(['', '2026-Q4', '2026-Q3'])
      expect(await page.locator('#lookback-services tbody').textContent()).toBe('No service had alerts or incidents in the period or the one before.')
      expect(errors).toEqual([])
    } finally {
      await b.close()
    }
  })
})
