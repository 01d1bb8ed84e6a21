import { describe, expect, it } from 'vitest'
import { markdownText, reviewMarkdown } from './markdown.ts'
import type { IncidentSummary, Review } from './report.ts'

describe('markdownText', () => {
  it('turns HTML into entities and escapes inline Markdown and the cell separator', () => {
    expect(markdownText('<script>alert(1)</script> & **b** _i_ `c` [l](http://x) ![i](y) ~~s~~ a|b \\')).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt; &amp; \\*\\*b\\*\\* \\_i\\_ \\`c\\` \\[l\\](http:\u200c//x) !\\[i\\](y) \\~\\~s\\~\\~ a\\|b \\\\')
  })

  it('keeps everything on one line', () => {
    expect(markdownText('a\nb\r\n# c\u2028d\u0000e')).toBe('a b # c d e')
  })

  it('breaks the links GFM would make of bare URLs, www. and e-mail addresses, with an invisible ZWNJ', () => {
    const zwnj = '\u200c'
    expect(markdownText('Login at https://evil.example/reset or www.evil.example')).toBe(`Login at https:${zwnj}//evil.example/reset or www${zwnj}.evil.example`)
    expect(markdownText('FTP://x WWW.x Www.x ops@evil.example mailto:a@b.example')).toBe(`FTP:${zwnj}//x WWW${zwnj}.x Www${zwnj}.x ops@${zwnj}evil.example mailto:a@${zwnj}b.example`)
    // A mention in a title does not notify the chat (Mattermost takes \u200c@channel as @channel still).
    expect(markdownText('Disk full @channel @here @all')).toBe(`Disk full @${zwnj}channel @${zwnj}here @${zwnj}all`)
    // Nothing but the ZWNJ and the escapes is added: what a reader sees is what the alert said.
    const text = '(http://evil.example/a?b=c) *www.evil.example* x@y.example'
    expect(markdownText(text).replaceAll(zwnj, '').replace(/\\(.)/g, '$1')).toBe(text)
  })

  it('leaves plain text as it is', () => {
    expect(markdownText('checkout-api 97.92 % (prod): ok')).toBe('checkout-api 97.92 % (prod): ok')
  })
})

describe('reviewMarkdown', () => {
  const incident = (n: number, extra: Partial<IncidentSummary>): IncidentSummary => ({
    id: `inc-${String(n).padStart(24, '0')}`, title: `incident ${n}`, status: 'open', severity: 'critical', services: ['checkout'], environment: 'production',
    openedAt: '2026-12-01T06:00:00.000Z', resolvedAt: null, owner: null, acknowledgedAt: null, customerImpact: false, alertCount: 1, problemIds: [],
    postmortem: { required: false, reasons: [], scheduledFor: null, owner: null }, version: 1, ...extra,
  })
  const review = (resolved: IncidentSummary[], total = resolved.length): Review => ({
    window: { from: '2026-11-30T08:00:00.000Z', to: '2026-12-01T08:00:00.000Z', timeZone: 'UTC', until: '2026-12-01T08:00:00.000Z', complete: true },
    newIncidents: { total: 0, bySeverity: { critical: 0, warning: 0, info: 0 }, items: [] },
    resolvedIncidents: { total, items: resolved },
    openIncidents: { total: 0, items: [] }, problems: { total: 0, items: [] }, postmortems: { total: 0, scheduled: 0, items: [], forgotten: { total: 0, items: [] } }, serviceLevels: [], responseTimes: { status: 'not-configured' }, trend: [],
  })

  it('lists the incidents resolved in the window, each with when it resolved, not only their count', () => {
    const md = reviewMarkdown(review([incident(1, { status: 'resolved', resolvedAt: '2026-12-01T06:40:00.000Z', owner: 'ann', title: 'Checkout payment timeouts' })], 3))
    expect(md).toContain('**3 resolved**')
    // After the sections the meeting acts on, which a digest cut at its limit keeps.
    expect(md.indexOf('## Resolved in the window')).toBeGreaterThan(md.indexOf('## Service levels'))
    const section = md.slice(md.indexOf('## Resolved in the window'), md.indexOf('## Last 30 days'))
    expect(section).toContain('| critical | Checkout payment timeouts (`inc-000000000000000000000001`) | checkout | 2026-12-01 06:00 | ann | resolved 2026-12-01 06:40 |')
    expect(section).toContain('_1 of 3 shown._')
    expect(reviewMarkdown(review([]))).toContain('## Resolved in the window\n\n_None._')
  })

  it('says apart from the queue which post-mortems the correlator forgot, as no longer to be scheduled here', () => {
    const forgotten = incident(2, { status: 'resolved', title: 'Payments down', postmortem: { required: true, reasons: ['severity critical'], scheduledFor: null, owner: null, forgottenAt: '2026-12-01T05:00:00.000Z' } })
    const md = reviewMarkdown({ ...review([]), postmortems: { total: 0, scheduled: 0, items: [], forgotten: { total: 1, items: [forgotten] } } })
    const section = md.slice(md.indexOf('## Post-mortems'), md.indexOf('## Service levels'))
    expect(section).toContain('_None._')
    expect(section).toContain('**1 can no longer be scheduled here**: forgotten by the correlator')
    expect(section).toContain('| Payments down (`inc-000000000000000000000002`) | severity critical | 2026-12-01 05:00 |')
    expect(reviewMarkdown(review([]))).not.toContain('can no longer be scheduled')
  })

  it('gives an outage under a minute in seconds, not as 0 min beside an availability below 100 %', () => {
    const level = { service: 'checkout', availabilityPct: 99.96, downtimeMs: 29_000, interruptions: 1, longestInterruptionMs: 29_000, degradedMs: 400, incidents: 1, mttaMs: null, mttrMs: 0 }
    const md = reviewMarkdown({ ...review([]), serviceLevels: [level] })
    expect(md).toContain('| checkout | 99.96 % | 29 s | 1 s | 1 | 1 | – | 0 min |')
    // 59.5 s rounds to the minute, not to "60 s".
    expect(reviewMarkdown({ ...review([]), serviceLevels: [{ ...level, downtimeMs: 59_500, degradedMs: 59_499 }] })).toContain('| checkout | 99.96 % | 1 min | 59 s | 1 |')
  })

  it('names the longest of several interruptions, the outage the meeting asks about', () => {
    const level = { service: 'checkout', availabilityPct: 97.22, downtimeMs: 40 * 60_000, interruptions: 3, longestInterruptionMs: 30 * 60_000, degradedMs: 0, incidents: 3, mttaMs: null, mttrMs: null }
    expect(reviewMarkdown({ ...review([]), serviceLevels: [level] })).toContain('| checkout | 97.22 % | 40 min | 0 min | 3 (longest 30 min) | 3 |')
  })
  it('counts one of a kind in the singular in its summary line: 1 new incident, not 1 new incidents', () => {
    const one = reviewMarkdown({
      ...review([]), newIncidents: { total: 1, bySeverity: { critical: 1, warning: 0, info: 0 }, items: [] }, problems: { total: 1, items: [] },
      postmortems: { total: 1, scheduled: 0, items: [], forgotten: { total: 0, items: [] } },
    })
    expect(one).toContain('**1 new incident** (1 critical, 0 warning, 0 info), **0 resolved**, **0 still open**, **1 problem** to review, **1 post-mortem** needed (0 scheduled).')
    expect(reviewMarkdown(review([]))).toContain('**0 new incidents** (0 critical, 0 warning, 0 info), **0 resolved**, **0 still open**, **0 problems** to review, **0 post-mortems** needed (0 scheduled).')
  })

  it('gives the response times right after the service levels, escaped, and says why there are none', () => {
    const section = (r: Review) => { const md = reviewMarkdown(r); return md.slice(md.indexOf('## Response times'), md.indexOf('## Resolved in the window')) }
    const md = reviewMarkdown({ ...review([]), responseTimes: { status: 'ok', name: 'p*95', items: [{ service: 'check|out', ms: 375 }, { service: 'idle', ms: null }] } })
    expect(md.indexOf('## Response times')).toBeGreaterThan(md.indexOf('## Service levels'))
    expect(md.indexOf('## Response times')).toBeLessThan(md.indexOf('## Resolved in the window'))
    expect(section({ ...review([]), responseTimes: { status: 'ok', name: 'p*95', items: [{ service: 'check|out', ms: 375 }, { service: 'idle', ms: null }] } }))
      .toBe('## Response times\n\n| service | p\\*95 |\n| --- | --- |\n| check\\|out | 375 ms |\n| idle | – |\n\n')
    expect(section(review([]))).toContain('_Not configured (OPSREVIEW_PROMETHEUS_URL)._')
    expect(section({ ...review([]), responseTimes: { status: 'unavailable', name: 'p95', error: 'connect ECONNREFUSED <x>' } })).toContain('_No response times from Prometheus: connect ECONNREFUSED &lt;x&gt;._')
    expect(section({ ...review([]), responseTimes: { status: 'ok', name: 'p95', items: [] } })).toContain('_No requests measured._')
  })
})
