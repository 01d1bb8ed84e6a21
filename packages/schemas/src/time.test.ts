import { describe, expect, it } from 'vitest'
import { isDateTime, parseDateTime } from './time.ts'
import { validateAlertEvent, validateCommand } from './index.ts'

describe('the date-time format', () => {
  it.each([
    ['2026-11-28T20:30:00Z', '2026-11-28T20:30:00.000Z'],
    ['2026-11-28T20:30:00.123456789Z', '2026-11-28T20:30:00.123Z'],
    ['2026-11-28t20:30:00.5z', '2026-11-28T20:30:00.500Z'],
    ['2026-11-28T21:30:00+01:00', '2026-11-28T20:30:00.000Z'],
    ['2026-11-28T21:30:00+0100', '2026-11-28T20:30:00.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
  ])('accepts %s as the instant new Date reads too', (value, iso) => {
    const ms = parseDateTime(value)
    expect(ms).toBeDefined()
    expect(new Date(ms!).toISOString()).toBe(iso)
    expect(new Date(value).toISOString()).toBe(iso)
  })

  it.each([
    ['a leap second', '2016-12-31T23:59:60Z'],
    ['an offset of hours only', '2026-11-28T21:30:00+01'],
    ['a year beyond 9999 once the offset applies', '9999-12-31T23:59:59-23:59'],
    ['a year before 0000 once the offset applies', '0000-01-01T00:00:00+00:01'],
    ['a day the month does not have', '2026-02-29T00:00:00Z'],
    ['no offset', '2026-11-28T20:30:00'],
    ['a space for the T', '2026-11-28 20:30:00Z'],
    ['hour 24', '2026-11-28T24:00:00Z'],
    ['an offset of 24 hours', '2026-11-28T20:30:00+24:00'],
    ['a six-digit year', '+010000-01-01T00:00:00Z'],
    ['a date only', '2026-11-28'],
    ['more than nanoseconds', '2026-11-28T20:30:00.1234567891Z'],
    // toISOString's own form, which is read by hand: the same refusals.
    ['a day the month does not have, in toISOString form', '2026-02-29T00:00:00.000Z'],
    ['hour 24, in toISOString form', '2026-11-28T24:00:00.000Z'],
    ['a leap second, in toISOString form', '2016-12-31T23:59:60.000Z'],
    ['month 0, in toISOString form', '2026-00-10T00:00:00.000Z'],
    ['a sign among the digits, in toISOString form', '2026-11-2-T20:30:00.000Z'],
    ['a letter among the milliseconds', '2026-11-28T20:30:00.0a0Z'],
  ])('refuses %s', (_what, value) => {
    expect(parseDateTime(value)).toBeUndefined()
    expect(isDateTime(value)).toBe(false)
  })

  it('reads the instant Date.parse reads, for every spelling it accepts, across years 0000-9999', () => {
    // A fixed-seed generator: the same 50,000 date-times on every run, covering every field's range.
    let seed = 20261201
    const next = (n: number) => { seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648; return seed % n }
    const pad = (n: number, w: number) => String(n).padStart(w, '0')
    let compared = 0
    for (let i = 0; i < 50_000; i++) {
      const date = `${pad(next(10_000), 4)}-${pad(1 + next(12), 2)}-${pad(1 + next(31), 2)}`
      const time = `${pad(next(24), 2)}:${pad(next(60), 2)}:${pad(next(60), 2)}${['', '.5', '.123', '.123456789'][next(4)]}`
      const zone = ['Z', 'z', `+${pad(next(24), 2)}:${pad(next(60), 2)}`, `-${pad(next(24), 2)}${pad(next(60), 2)}`][next(4)]
      const value = `${date}${next(2) ? 'T' : 't'}${time}${zone}`
      const ms = parseDateTime(value)
      if (ms === undefined) continue
      compared++
      expect(ms, value).toBe(Date.parse(value))
    }
    expect(compared).toBeGreaterThan(40_000)
  })

  it('is the format of every schema, the review\'s included', () => {
    const command = { id: 'cmd-12345678', type: 'incident.note', target: `inc-${'a'.repeat(24)}`, environment: 'production', actor: 'me', text: 'x' }
    expect(validateCommand({ ...command, at: '2026-11-28T20:30:00Z' }).ok).toBe(true)
    expect(validateCommand({ ...command, at: '2016-12-31T23:59:60Z' })).toMatchObject({ ok: false, errors: [{ path: '/at' }] })
    const event = {
      id: 'a'.repeat(32), source: 'report', fingerprint: 'f', status: 'firing', severity: 'info', service: 's', environment: 'e',
      title: 't', labels: {}, receivedAt: '2026-11-28T20:30:00.000Z', links: [], origin: {},
    }
    expect(validateAlertEvent({ ...event, startsAt: '2026-11-28T20:30:00.000Z' }).ok).toBe(true)
    expect(validateAlertEvent({ ...event, startsAt: '9999-12-31T23:59:59-23:59' })).toMatchObject({ ok: false, errors: [{ path: '/startsAt' }] })
  })
})

describe('the canonical event caps', () => {
  const event = {
    id: 'a'.repeat(32), source: 'alertmanager', fingerprint: 'f', status: 'firing', severity: 'info', service: 's', environment: 'e',
    title: 't', labels: {}, startsAt: '2026-11-28T20:30:00.000Z', receivedAt: '2026-11-28T20:30:00.000Z', links: [], origin: {},
  }
  it.each([
    ['/service', { service: 'x'.repeat(257) }],
    ['/labels/big', { labels: { big: 'x'.repeat(4097) } }],
    ['/labels', { labels: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`l${i}`, 'v'])) }],
    [`/labels/${'n'.repeat(257)}`, { labels: { ['n'.repeat(257)]: 'v' } }],
    ['/origin/annotations/a', { origin: { annotations: { a: 'x'.repeat(16385) } } }],
    ['/title', { title: 'x'.repeat(1025) }],
  ])('refuses an event over a cap at %s', (path, patch) => {
    const result = validateAlertEvent({ ...event, ...patch })
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.errors.map((e) => e.path)).toContain(path)
  })

  it('counts code points, which is what keeps a 4,096-character value under the 32 KiB keyword limit', () => {
    expect(validateAlertEvent({ ...event, labels: { v: '😀'.repeat(4096) } }).ok).toBe(true)
    expect(Buffer.byteLength('😀'.repeat(4096)) + 256 * 4).toBeLessThan(32_766)
  })
})
