import { readFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '@opsreview/testing'
import { isUsableName as usable, MAX_ENVIRONMENT_CHARS, MAX_SERVICE_CHARS } from './index.ts'

const isUsableName = (v: string) => usable(v, MAX_SERVICE_CHARS)

// The schemas' rule for a name a sender is refused over (a Pingdom check name or tag, a report's title).
const schema = JSON.parse(readFileSync(path.join(repoRoot, 'schemas/incident-patch.v1.json'), 'utf8')) as { definitions: { printable: { pattern: string } } }
// ajv compiles patterns with the `u` flag.
const printable = new RegExp(schema.definitions.printable.pattern, 'u')

describe('isUsableName', () => {
  it('refuses blank values and every C0, DEL and C1 control character, anywhere', () => {
    expect(['', ' ', '  \u00a0', '\u2028', '\ufeff'].filter(isUsableName)).toEqual([])
    for (let c = 0; c <= 0x9f; c++) {
      const ch = String.fromCharCode(c)
      const control = c <= 0x1f || c >= 0x7f
      expect(isUsableName(`a${ch}b`)).toBe(!control)
      expect(isUsableName(`${ch}checkout`)).toBe(!control)
      expect(isUsableName(`checkout${ch}`)).toBe(!control)
    }
    expect(['checkout', 'app.kubernetes.io', ' padded ', 'Café – 山田 ✓', '🙂', '\u00a0x', '\u00a0'.repeat(3) + 'x'].every(isUsableName)).toBe(true)
  })

  it('refuses a name longer than the event takes, counted in code points as the schema counts it', () => {
    expect([MAX_SERVICE_CHARS, MAX_ENVIRONMENT_CHARS]).toEqual([256, 128])
    expect(usable('s'.repeat(256), MAX_SERVICE_CHARS)).toBe(true)
    expect(usable('s'.repeat(257), MAX_SERVICE_CHARS)).toBe(false)
    expect(usable('🙂'.repeat(256), MAX_SERVICE_CHARS)).toBe(true)
    expect(usable('e'.repeat(129), MAX_ENVIRONMENT_CHARS)).toBe(false)
    expect(usable('e'.repeat(128), MAX_ENVIRONMENT_CHARS)).toBe(true)
  })

  it('agrees with the schemas\' printable pattern, the rule a refused sender field follows', () => {
    const ch = fc.oneof(
      fc.constantFrom(' ', '\t', '\n', '\r', '\u0000', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f', '\u00a0', '\u2028', '\ufeff', '\u3000'),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
      fc.integer({ min: 0, max: 0xa0 }).map((c) => String.fromCharCode(c)),
    )
    fc.assert(fc.property(fc.array(ch, { maxLength: 12 }).map((a) => a.join('')), (v) => isUsableName(v) === printable.test(v)), { numRuns: 5000 })
  })
})
