// fast-check arbitraries for the receiver's fuzz tests: hostile strings, dates, labels, encodings and
// nesting, mutations of the captured fixtures, and webhooks mixing good and bad alerts.
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { fixture } from '@opsreview/testing'

const NOW = Date.parse('2026-11-28T20:30:00.000Z')
const HOUR = 3_600_000
const DAY = 24 * HOUR

/** Nested arrays and objects `depth` levels deep, as a value (JSON.stringify handles these depths). */
function nested(depth: number, leaf: unknown = 1): unknown {
  let v = leaf
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v }
  return v
}

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '', ' ', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf', '\u0000', '\ud800', '\udfff\ud800',
    '😀'.repeat(5000), 'x'.repeat(40_000), 'x'.repeat(4097), 'x'.repeat(4096), 's'.repeat(257), 'e'.repeat(129), '../../etc/passwd',
    '${jndi:ldap://x/a}', '<script>alert(1)</script>', 'a/b~c', '0001-01-01T00:00:00Z', 'critical', 'CRITICAL', 'p1', '\\', '"', '\n\r\t',
  ),
)

const pad = (n: number, width: number) => String(n).padStart(width, '0')

export const hostileDate: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '2016-12-31T23:59:60Z', '2026-11-28T20:00:00+01', '2026-11-28T20:00:00+0100', '2026-11-28T20:00:00+01:00', '9999-12-31T23:59:59-23:59',
    '0000-01-01T00:00:00Z', '0000-01-01T00:00:00+00:01', '0001-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-11-28T20:00:00',
    '1970-01-01T00:00:00Z', '2026-11-28T20:00:00.1234567891Z', '+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00Z',
    '2026-11-28 20:00:00Z', '2026-11-28t20:00:00z', '2026-11-28T24:00:00Z', '2026-11-28T20:00:00+24:00', '2026-13-01T00:00:00Z', 'now', '',
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.integer({ min: -3 * 365 * DAY, max: 3 * HOUR }).map((offset) => new Date(NOW + offset).toISOString()),
  fc.record({
    y: fc.integer({ min: 0, max: 9999 }), mo: fc.integer({ min: 0, max: 13 }), d: fc.integer({ min: 0, max: 32 }),
    h: fc.integer({ min: 0, max: 25 }), mi: fc.integer({ min: 0, max: 61 }), s: fc.integer({ min: 0, max: 61 }),
    frac: fc.constantFrom('', '.5', '.123', '.123456789'),
    tz: fc.constantFrom('Z', 'z', '+01', '+0100', '-23:59', '+23:59', '+00:00', '-00:00', '+25:00', ''),
  }).map(({ y, mo, d, h, mi, s, frac, tz }) => `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${frac}${tz}`),
)

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 3, arbitrary: hostileDate },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  // A fresh [] or {} each time: setPath writes into objects, and a shared one would become circular.
  { weight: 1, arbitrary: fc.constantFrom(null, true, -1, 0, 1e308, -1e308, 2 ** 53 + 1, 1.5, 253402300800, 1e17, [], {}).map((v) => (typeof v === 'object' && v !== null ? structuredClone(v) : v)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }).map((depth) => nested(depth)) },
  { weight: 1, arbitrary: fc.dictionary(hostileString, hostileString, { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.integer({ min: 120, max: 200 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, 'v']))) },
)

const labelName = fc.oneof(fc.constantFrom('service', 'job', 'env', 'namespace', 'severity', 'instance', 'team'), fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/))

/** A well-formed alert whose times lie within the bounds around NOW; `id` makes its fingerprint unique. */
export function goodAlert(id: () => string): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    status: fc.constantFrom('firing', 'resolved'),
    labels: fc.dictionary(labelName, fc.string({ maxLength: 30 }), { maxKeys: 6 }),
    annotations: fc.dictionary(fc.constantFrom('summary', 'description', 'runbook_url', 'title', 'message'), fc.string({ maxLength: 80 }), { maxKeys: 3 }),
    startsOffset: fc.integer({ min: -300 * DAY, max: 30 * 60_000 }),
    alertname: fc.string({ minLength: 1, maxLength: 30 }),
  }).map(({ status, labels, annotations, startsOffset, alertname }) => {
    const startsAt = new Date(NOW + startsOffset).toISOString()
    const alert: Record<string, unknown> = {
      status, labels: { ...labels, service: labels.service || 'svc', alertname }, annotations, startsAt, fingerprint: id(),
    }
    alert.endsAt = status === 'resolved' ? new Date(NOW - 60_000).toISOString() : '0001-01-01T00:00:00Z'
    if (status === 'resolved' && startsOffset > -60_000) alert.startsAt = new Date(NOW - 120_000).toISOString()
    return alert
  })
}

const alertPaths = [
  ['status'], ['labels'], ['annotations'], ['startsAt'], ['endsAt'], ['generatorURL'], ['fingerprint'],
  ['labels', 'severity'], ['labels', 'service'], ['labels', 'alertname'], ['labels', '__proto__'], ['labels', 'constructor'], ['labels', 'env'],
  ['annotations', 'summary'], ['annotations', 'description'], ['annotations', 'runbook_url'], ['annotations', '__proto__'],
] as const

/** Sets `value` at `path`, making objects on the way; a key like `__proto__` becomes an own property. */
export function setPath(target: unknown, path: readonly string[], value: unknown): unknown {
  if (path.length === 0) return value
  const base: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? target as Record<string, unknown> : {}
  const [head, ...rest] = path as [string, ...string[]]
  const child = Object.hasOwn(base, head) ? base[head] : undefined
  Object.defineProperty(base, head, { value: setPath(child, rest, value), enumerable: true, writable: true, configurable: true })
  return base
}

/** A good alert with one to three of its fields replaced by hostile values. */
export function badAlert(id: () => string): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(goodAlert(id), fc.array(fc.tuple(fc.constantFrom(...alertPaths), hostileValue), { minLength: 1, maxLength: 3 }))
    .map(([alert, edits]) => {
      let out: unknown = structuredClone(alert)
      for (const [path, value] of edits) out = setPath(out, path, value)
      return out as Record<string, unknown>
    })
}

/** A notification whose alerts are a mix of good and bad ones, the envelope itself sometimes broken. */
export function mixedWebhook(id: () => string): fc.Arbitrary<{ body: Record<string, unknown>; bad: boolean[] }> {
  const item = fc.oneof(goodAlert(id).map((a) => ({ a, bad: false })), badAlert(id).map((a) => ({ a, bad: true })))
  return fc.record({
    items: fc.array(item, { minLength: 1, maxLength: 8 }),
    receiver: fc.oneof({ weight: 15, arbitrary: fc.constant('opsreview') }, { weight: 1, arbitrary: hostileString }),
    truncatedAlerts: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 5 })),
    // One notification in eight has its envelope broken; the rest test the alerts.
    envelopeEdit: fc.oneof(
      { weight: 7, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('version', 'status', 'groupKey', 'externalURL', 'alerts', 'commonLabels'), hostileValue) },
    ),
  }).map(({ items, receiver, truncatedAlerts, envelopeEdit }) => {
    const body: Record<string, unknown> = { version: '4', status: 'firing', receiver, groupKey: '{}:{alertname="x"}', alerts: items.map((i) => i.a) }
    if (truncatedAlerts !== undefined) body.truncatedAlerts = truncatedAlerts
    if (envelopeEdit) setPath(body, [envelopeEdit[0]], envelopeEdit[1])
    // Alerts replaced wholesale are all suspect.
    const bad = body.alerts === envelopeEdit?.[1] && Array.isArray(body.alerts) ? body.alerts.map(() => true) : items.map((i) => i.bad)
    return { body, bad }
  })
}

/** Every path in a JSON value, for mutating a fixture anywhere. */
function pathsOf(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object') return [prefix]
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value)
  return [prefix, ...entries.flatMap(([k, v]) => pathsOf(v, [...prefix, k]))]
}

export const fixtures = {
  alertmanager: ['am-firing-3-alerts.json', 'am-mixed-some-resolved.json', 'am-resolved.json', 'am025-firing-truncated-max-alerts-2.json', 'am025-mixed-one-resolved-truncated.json']
    .map((name) => fixture<Record<string, unknown>>(`alertmanager/${name}`)),
  pingdom: ['pingdom-http-down.json', 'pingdom-http-up.json', 'pingdom-transaction-failing.json']
    .map((name) => fixture<Record<string, unknown>>(`pingdom/${name}`)),
}

/** A captured fixture with up to four values replaced, removed or added anywhere in it. */
export function mutatedFixture(kind: 'alertmanager' | 'pingdom'): fc.Arbitrary<Record<string, unknown>> {
  return fc.constantFrom(...fixtures[kind]).chain((base) => {
    const paths = pathsOf(base).filter((p) => p.length > 0)
    const edit = fc.oneof(
      fc.tuple(fc.constantFrom(...paths), hostileValue).map(([path, value]) => ({ path, value, remove: false })),
      fc.constantFrom(...paths).map((path) => ({ path, value: undefined, remove: true })),
      fc.tuple(fc.constantFrom(...paths), hostileString, hostileValue).map(([path, key, value]) => ({ path: [...path.slice(0, -1), key], value, remove: false })),
    )
    return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
      const copy = structuredClone(base)
      for (const { path, value, remove } of edits) {
        if (remove) {
          const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), copy)
          if (parent !== null && typeof parent === 'object') delete (parent as Record<string, unknown>)[path.at(-1)!]
        } else {
          setPath(copy, path, value)
        }
      }
      return copy
    })
  })
}

export const encodings = ['identity', 'gzip', 'deflate', 'br'] as const
const encoders: Record<(typeof encodings)[number], (b: Buffer) => Buffer> = {
  identity: (b) => b, gzip: (b) => gzipSync(b), deflate: (b) => deflateSync(b), br: (b) => brotliCompressSync(b),
}

/** Raw bodies: compressed or not, truncated, bit-flipped, deeply nested, with a label of what they are. */
export const rawBody: fc.Arbitrary<{ body: Buffer; headers: Record<string, string> }> = fc.record({
  source: fc.oneof(
    fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    fc.integer({ min: 1, max: 100_000 }).map((d) => Buffer.from('['.repeat(d) + ']'.repeat(d))),
    fc.integer({ min: 1, max: 100_000 }).map((d) => Buffer.from('{"a":'.repeat(d) + '1' + '}'.repeat(d))),
    fc.constantFrom(...fixtures.alertmanager).map((f) => Buffer.from(JSON.stringify(f))),
    fc.constant(Buffer.from('\ufeff{"version":"4"}')),
  ),
  encoding: fc.constantFrom(...encodings),
  declared: fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'gzip, br', 'compress', 'x-unknown'), { freq: 3 }),
  damage: fc.constantFrom('none', 'truncate', 'flip'),
  damageAt: fc.nat(),
  contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/vnd.x+json', 'text/plain', ''),
}).map(({ source, encoding, declared, damage, damageAt, contentType }) => {
  let body = encoders[encoding](source)
  if (damage === 'truncate' && body.length > 1) body = body.subarray(0, damageAt % body.length)
  if (damage === 'flip' && body.length > 0) { body = Buffer.from(body); body[damageAt % body.length]! ^= 0xff }
  const headers: Record<string, string> = { 'content-type': contentType }
  const enc = declared ?? encoding
  if (enc !== 'identity' || declared) headers['content-encoding'] = enc
  return { body, headers }
})
