import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { eventId, isoTime, labelsFingerprint, stableHash } from './event.ts'

/** The digest as earlier versions computed it, part by part: ids already on Kafka must stay the ids. */
function partByPart(parts: readonly string[], hexChars: number): string {
  const h = createHash('sha256')
  for (const p of parts) h.update(p).update('\u0000')
  return h.digest('hex').slice(0, hexChars)
}

describe('event ids and hashes', () => {
  const cases: [string, string, string, string][] = [
    ['alertmanager', '3039-0', 'firing', '2026-11-01T00:00:00.000Z'],
    ['pingdom', '', 'resolved', ''],
    ['report', 'réf-✓-日本', 'firing', '2026-12-01T21:00:00.000Z'],
  ]

  it('gives the ids earlier versions gave', () => {
    for (const [source, fingerprint, status, time] of cases) {
      expect(eventId(source as 'alertmanager', fingerprint, status, time)).toBe(partByPart([source, fingerprint, status, time], 32))
    }
    expect(eventId('alertmanager', '3039-0', 'firing', '2026-11-01T00:00:00.000Z')).toMatch(/^[0-9a-f]{32}$/)
  })

  it('gives the label fingerprints and stable hashes earlier versions gave', () => {
    expect(labelsFingerprint({ b: '2', a: '1', 'ü': '' })).toBe(partByPart(['a', '1', 'b', '2', 'ü', ''], 16))
    expect(stableHash([])).toBe(partByPart([], 16))
    expect(stableHash(['x', 'y'])).toBe(partByPart(['x', 'y'], 16))
  })

  it('keeps parts that hold a NUL apart from the parts it would split them into', () => {
    expect(labelsFingerprint({ alertname: 'A\u0000instance\u0000db-1' })).not.toBe(labelsFingerprint({ alertname: 'A', instance: 'db-1' }))
    expect(stableHash(['complaint', 'checkout\u0000prod', 'SUP-1', 'x'])).not.toBe(stableHash(['complaint', 'checkout', 'prod', 'SUP-1\u0000x']))
    expect(stableHash(['complaint', 'checkout', 'prod', 'SUP-1\u0000x'])).not.toBe(stableHash(['complaint', 'checkout', 'prod', 'SUP-1', 'x']))
    expect(eventId('alertmanager', 'a\u0000b', 'firing', 'c')).not.toBe(eventId('alertmanager', 'a', 'b\u0000firing', 'c'))
  })
})

describe('isoTime', () => {
  it.each([
    ['2026-11-28T20:30:00.500Z', '2026-11-28T20:30:00.500Z'],
    ['2026-11-28t20:30:00.500Z', '2026-11-28T20:30:00.500Z'],
    ['2026-11-28T20:30:00.500z', '2026-11-28T20:30:00.500Z'],
    ['2026-11-28T20:30:00Z', '2026-11-28T20:30:00.000Z'],
    ['2026-11-28T21:30:00.5+01:00', '2026-11-28T20:30:00.500Z'],
  ])('writes %s as %s, so that one instant hashes one way', (value, iso) => {
    expect(isoTime(value)).toBe(iso)
  })

  it('refuses what is not a date-time, even in the canonical shape', () => {
    expect(() => isoTime('2026-02-30T00:00:00.000Z')).toThrow(RangeError)
  })
})
