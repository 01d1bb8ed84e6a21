import { describe, expect, it } from 'vitest'
import { validateAlertEvent, validatePingdomWebhook, type PingdomWebhook } from '@opsreview/schemas'
import { fixture } from '@opsreview/testing'
import { normalizePingdom } from './pingdom.ts'
import { defaultIngestOptions } from './event.ts'
import { MAX_EVENT_BYTES } from './limits.ts'

const ctx = { receivedAt: new Date('2026-11-28T20:30:00.000Z'), options: defaultIngestOptions }
const load = (name: string) => fixture<PingdomWebhook>(`pingdom/${name}`)

describe('normalizePingdom', () => {
  it('maps a DOWN to a firing event with the check as fingerprint and the state change as time', () => {
    const payload = load('pingdom-http-down.json')
    expect(validatePingdomWebhook(payload).ok).toBe(true)
    const e = normalizePingdom(payload, ctx)
    expect(validateAlertEvent(e).ok).toBe(true)
    expect(e).toMatchObject({
      source: 'pingdom', status: 'firing', fingerprint: 'check-8412337', severity: 'critical',
      service: 'Shop API health (prod)', environment: 'production',
      startsAt: new Date(1773737091 * 1000).toISOString(),
      links: [{ rel: 'target', href: 'https://shop.northwind-retail.net/api/health?deep=1' }],
    })
    expect(e.labels.host).toBe('shop.northwind-retail.net')
    expect(e.description).toContain('HTTP Server Error 503')
    expect(e.description).toContain('Page payments on-call')
    expect(e.origin).toMatchObject({ check_id: 8412337, custom_message: expect.stringContaining('Runbook'), description: 'HTTP Error 503' })
  })

  it('maps UP and SUCCESS to resolved, DOWN and FAILING to firing', () => {
    const up = normalizePingdom(load('pingdom-http-up.json'), ctx)
    expect(up.status).toBe('resolved')
    expect(up.endsAt).toBe(up.startsAt)
    const failing = normalizePingdom(load('pingdom-transaction-failing.json'), ctx)
    expect(failing).toMatchObject({ status: 'firing', fingerprint: 'transaction-61207' })
    expect(normalizePingdom({ ...load('pingdom-transaction-failing.json'), current_state: 'SUCCESS' }, ctx).status).toBe('resolved')
  })

  it('keeps an uptime check and a transaction check of the same number apart: their numbers are counted apart', () => {
    const uptime = normalizePingdom({ ...load('pingdom-http-down.json'), check_id: 61207 }, ctx)
    const transaction = normalizePingdom({ ...load('pingdom-transaction-failing.json'), current_state: 'SUCCESS' }, ctx)
    expect([uptime.fingerprint, transaction.fingerprint]).toEqual(['check-61207', 'transaction-61207'])
  })

  it('falls back to the short description when the long one is empty, as Pingdom sends a text it has not', () => {
    const e = normalizePingdom({ ...load('pingdom-http-down.json'), long_description: '', description: 'Timeout (> 30s)', custom_message: '' }, ctx)
    expect(e.description).toBe('Timeout (> 30s)')
  })

  it('takes texts longer than the event\'s text cap, cut to fit, instead of refusing the state change', () => {
    const long = 'Connection refused. '.repeat(1500)
    const payload = { ...load('pingdom-http-down.json'), long_description: long, description: long, custom_message: long }
    expect(validatePingdomWebhook(payload).ok).toBe(true)
    const e = normalizePingdom(payload, ctx)
    expect(validateAlertEvent(e).ok).toBe(true)
    for (const text of [e.description!, e.origin.long_description as string, e.origin.description as string, e.origin.custom_message as string]) {
      expect(Array.from(text)).toHaveLength(16_384)
      expect(text.endsWith('…')).toBe(true)
    }
  })

  it('drops the originals from origin, then cuts the description, when the event would be over the cap in bytes', () => {
    const payload = { ...load('pingdom-http-down.json'), long_description: '😀'.repeat(20_000), custom_message: 'Page payments on-call' }
    const e = normalizePingdom(payload, ctx)
    expect(validateAlertEvent(e).ok).toBe(true)
    expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThanOrEqual(MAX_EVENT_BYTES)
    expect(e.origin).toMatchObject({ check_id: 8412337, cut: ['description', 'long_description', 'custom_message', 'first_probe', 'second_probe'] })
    expect(e.origin).not.toHaveProperty('long_description')
    // 16,384 emoji and the custom message were 64 KiB: within the cap once the originals are gone.
    expect(Array.from(e.description!)).toHaveLength(16_384)
    expect(e.description!.startsWith('😀😀')).toBe(true)
    // Within the cap, nothing is dropped.
    expect(normalizePingdom(load('pingdom-http-down.json'), ctx).origin).not.toHaveProperty('cut')
  })

  it('halves the description until the event fits when the originals are not enough', () => {
    // Six bytes each in JSON: a description at its cap is 96 KiB, and a host name and URL at theirs 24 KiB each.
    const huge = (n: number) => '\u0001'.repeat(n)
    const payload = { ...load('pingdom-http-down.json'), long_description: huge(16_000), custom_message: huge(16_000), check_params: { hostname: huge(4096), full_url: huge(4096) } }
    expect(validatePingdomWebhook(payload).ok).toBe(true)
    const e = normalizePingdom(payload, ctx)
    expect(validateAlertEvent(e).ok).toBe(true)
    expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThanOrEqual(MAX_EVENT_BYTES)
    expect(e.description!.endsWith('…')).toBe(true)
    expect(Array.from(e.description!).length).toBeLessThan(16_384)
  })

  it('takes a check whose URL is too long for an event\'s link, leaving the link out and naming it', () => {
    // A transaction check's URL with a long query string: until 2026-12-06 the whole message was refused, and
    // Pingdom does not retry.
    const url = `https://shop.example/health?${'probe=1&'.repeat(600)}`
    expect(url.length).toBeGreaterThan(4096)
    const base = load('pingdom-http-down.json')
    const payload = { ...base, check_params: { ...base.check_params, full_url: url } }
    expect(validatePingdomWebhook(payload).ok).toBe(true)
    const e = normalizePingdom(payload, ctx)
    expect(validateAlertEvent(e).ok).toBe(true)
    expect(e.links).toEqual([])
    expect(e.origin.linksLeftOut).toEqual(['target'])
    // Within the cap, the link is kept and nothing is named.
    const kept = normalizePingdom(base, ctx)
    expect(kept.links).toEqual([{ rel: 'target', href: base.check_params!.full_url }])
    expect(kept.origin).not.toHaveProperty('linksLeftOut')
  })

  it('takes the service and environment from tags, by either separator', () => {
    const base = load('pingdom-http-down.json')
    expect(normalizePingdom({ ...base, tags: ['service:shop-api', 'env:staging'] }, ctx)).toMatchObject({ service: 'shop-api', environment: 'staging' })
    expect(normalizePingdom({ ...base, tags: ['service_shop-api', 'env_staging'] }, ctx)).toMatchObject({ service: 'shop-api', environment: 'staging' })
    expect(normalizePingdom({ ...base, tags: [] }, ctx)).toMatchObject({ service: 'Shop API health (prod)', environment: 'production' })
    // A blank value is no value: the check's name and the default environment, not a blank service.
    expect(normalizePingdom({ ...base, tags: ['service:   ', 'env:', 'env: '] }, ctx)).toMatchObject({ service: 'Shop API health (prod)', environment: 'production' })
  })

  it.each(['HTTP', 'HTTP_CUSTOM', 'TCP', 'PORT_TCP', 'PING', 'DNS', 'UDP', 'SMTP', 'POP3', 'IMAP', 'TRANSACTION'] as const)(
    'accepts the %s check type', (checkType) => {
      const payload = { ...load('pingdom-http-down.json'), check_type: checkType }
      expect(validatePingdomWebhook(payload).ok).toBe(true)
      expect(normalizePingdom(payload, ctx).labels.check_type).toBe(checkType)
    })

  it('maps importance LOW to warning', () => {
    expect(normalizePingdom({ ...load('pingdom-http-down.json'), importance_level: 'LOW' }, ctx).severity).toBe('warning')
  })

  it('gives a redelivered state change the same id', () => {
    const a = normalizePingdom(load('pingdom-http-down.json'), ctx)
    const b = normalizePingdom(load('pingdom-http-down.json'), { ...ctx, receivedAt: new Date() })
    expect(b.id).toBe(a.id)
  })
})
