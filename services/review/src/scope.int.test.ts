import { describe, expect, it } from 'vitest'
import { launchChromium } from '@opsreview/testing/chromium'
import { READ, startScopedReview } from './scope-seed.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

describe('the review scope on the real Elasticsearch', () => {
  it('scopes the review, its Markdown and the look-back to the default environment, environment=, service= and team=', async () => {
    const { url } = await startScopedReview()
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${READ}` } })
      const body: Json = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text()
      return { status: res.status, body }
    }
    const titles = (items: { title: string }[]) => items.map((i) => i.title).sort()
    const levels = (r: Json) => Object.fromEntries(r.serviceLevels.map((l: Json) => [l.service, l.downtimeMs / 60_000]))

    // OPSREVIEW_REVIEW_ENVIRONMENTS=production: no staging or test incident, alert or problem.
    const prod = (await get('/api/v1/review?since=24h')).body
    expect(prod.scope).toEqual({ environments: ['production'], services: [], teams: [] })
    expect(titles(prod.newIncidents.items)).toEqual(['Checkout down', 'Search latency'])
    expect(prod.problems.items.map((p: Json) => p.title)).toEqual(['Checkout keeps failing'])
    expect(levels(prod)).toEqual({ checkout: 30, search: 0 })
    expect(prod.trend.at(-1).total + prod.trend.at(-2).total).toBe(2)

    // An empty environment is none named, as in search: the default, not every environment.
    for (const path of ['/api/v1/review?since=24h&environment=', '/api/v1/review?since=24h&environment=&environment=']) expect((await get(path)).body, path).toEqual(prod)
    expect((await get('/api/v1/review.md?since=24h&environment=')).body).toBe((await get('/api/v1/review.md?since=24h')).body)
    expect((await get('/api/v1/lookback?period=month&at=2026-12&environment=')).body.scope).toEqual({ environments: ['production'], services: [], teams: [] })
    expect((await get('/api/v1/lookback.md?period=month&at=2026-12&environment=')).body).toMatch(/^> Scope: environment production; every service\.\n/)
    expect((await get('/api/v1/incidents?environment=')).body).toEqual((await get('/api/v1/incidents')).body)
    expect((await get('/api/v1/problems?environment=')).body).toEqual((await get('/api/v1/problems')).body)

    const all = (await get('/api/v1/review?since=24h&environment=*')).body
    expect(all.scope.environments).toEqual([])
    expect(titles(all.newIncidents.items)).toEqual(['Checkout down', 'Malformed alert junk', 'Search latency', 'Staging checkout down'])
    expect(levels(all).checkout).toBe(90)

    const staging = (await get('/api/v1/review?since=24h&environment=staging')).body
    expect(titles(staging.newIncidents.items)).toEqual(['Staging checkout down'])
    expect(levels(staging)).toEqual({ checkout: 60 })

    const team = (await get('/api/v1/review?since=24h&team=discovery')).body
    expect(team.scope).toEqual({ environments: ['production'], services: [], teams: ['discovery'] })
    expect(titles(team.newIncidents.items)).toEqual(['Search latency'])
    expect(Object.keys(levels(team))).toEqual(['search'])
    expect(titles((await get('/api/v1/review?since=24h&service=checkout&environment=production&environment=staging')).body.newIncidents.items)).toEqual(['Checkout down', 'Staging checkout down'])

    const md = (await get('/api/v1/review.md?since=24h&team=payments')).body as string
    expect(md.startsWith('> Scope: environment production; team payments.\n')).toBe(true)
    expect(md).toContain('Checkout down')
    expect(md).not.toContain('Search latency')

    // December (running): incidents 1 (production), 4 (staging) and 5 (test) were opened in it.
    const lb = (await get('/api/v1/lookback?period=month&at=2026-12')).body
    expect(lb.scope).toEqual({ environments: ['production'], services: [], teams: [] })
    expect(lb.totals.incidents.total).toBe(1)
    // search is there for November's incident, the previous period.
    expect(lb.services.map((v: Json) => [v.service, v.downtimeMs / 60_000])).toEqual([['checkout', 30], ['search', 0]])
    const lbAll = (await get('/api/v1/lookback?period=month&at=2026-12&environment=*')).body
    expect(lbAll.totals.incidents.total).toBe(3)
    expect(lbAll.services.find((v: Json) => v.service === 'checkout').downtimeMs / 60_000).toBe(90)
    expect((await get('/api/v1/lookback?period=month&at=2026-12&environment=*&team=discovery')).body.totals.incidents.total).toBe(0)
    expect((await get('/api/v1/lookback.md?period=month&at=2026-12&environment=staging')).body).toMatch(/^> Scope: environment staging; every service\.\n/)

    // Unknown parameters and teams are named, never ignored.
    const unknown = await get('/api/v1/review?enviroment=production&since=24h&servce=x')
    expect(unknown.status).toBe(400)
    expect(unknown.body.errors.map((e: Json) => e.path)).toEqual(['/enviroment', '/servce'])
    const badTeam = await get('/api/v1/lookback?period=month&team=nobody')
    expect(badTeam.status).toBe(400)
    expect(badTeam.body.errors).toEqual([{ path: '/team', message: expect.stringContaining('nobody') }])
    expect((await get('/api/v1/incidents?team=payments')).body.errors).toEqual([{ path: '/team', message: expect.any(String) }])
    // A bad window or period and a bad scope: both named in one answer.
    expect((await get('/api/v1/review?since=soon&team=nobody')).body.errors.map((e: Json) => e.path)).toEqual(['/since', '/team'])
    expect((await get('/api/v1/lookback?period=week&environment=a%00b')).body.errors.map((e: Json) => e.path)).toEqual(['/period', '/environment'])
    // The query token stays off: with one and no header, still 401, not 400.
    expect((await fetch(`${url}/api/v1/review?token=${READ}`)).status).toBe(401)
  })

  it('the dashboard keeps the scope of its address on its review calls and shows it', async () => {
    const { url } = await startScopedReview()
    const b = await launchChromium()
    try {
      const page = await b.newPage()
      const asked: string[] = []
      page.on('request', (r) => { if (r.url().includes('/api/v1/review')) asked.push(new URL(r.url()).search) })
      await page.goto(`${url}/?environment=staging&service=checkout#token=${READ}`)
      await expect.poll(() => page.locator('#scope-label').textContent(), { timeout: 15_000 }).toBe('Scope: environment staging; service checkout')
      expect(asked[0]).toContain('&environment=staging&service=checkout')
      await expect.poll(() => page.locator('#service-levels tbody tr').count()).toBe(1)
      expect(await page.locator('#service-levels tbody tr').textContent()).toContain('checkout')
      expect(await page.locator('#open-incidents tbody').textContent()).not.toContain('Checkout down')

      const plain = await b.newPage()
      await plain.goto(`${url}/#token=${READ}`)
      await expect.poll(() => plain.locator('#scope-label').textContent(), { timeout: 15_000 }).toBe('Scope: environment production; every service')
      await expect.poll(() => plain.locator('#open-incidents tbody').textContent()).toContain('Checkout down')
    } finally {
      await b.close()
    }
  })
})
