import { describe, expect, it } from 'vitest'
import { field, readConfig } from './index.ts'

const spec = {
  PORT: field.port('listen port', 8080),
  TOKENS: field.list('ingest tokens', undefined, { minItems: 1 }),
  LEVEL: field.oneOf('log level', ['info', 'debug'] as const, 'info'),
  LIMIT: field.bytes('body limit', 1024 * 1024),
  QUIET: field.duration('quiet period', 5 * 60_000),
}

describe('readConfig', () => {
  it('applies defaults and parses values', () => {
    const r = readConfig(spec, { TOKENS: 'a, b', LIMIT: '2mb', QUIET: '90s' })
    expect(r).toEqual({ ok: true, value: { PORT: 8080, TOKENS: ['a', 'b'], LEVEL: 'info', LIMIT: 2 * 1024 * 1024, QUIET: 90_000 } })
    if (r.ok) expect(Object.isFrozen(r.value)).toBe(true)
  })

  it('lists every error at once', () => {
    const r = readConfig(spec, { PORT: '70000', LEVEL: 'loud', LIMIT: 'lots', QUIET: '5 minutes' })
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.errors).toHaveLength(5)
      expect(r.errors.join('\n')).toMatch(/QUIET must be a duration/)
      expect(r.errors.join('\n')).toMatch(/PORT must be <= 65535/)
      expect(r.errors.join('\n')).toMatch(/TOKENS is required/)
      expect(r.errors.join('\n')).toMatch(/LEVEL must be one of info, debug/)
      expect(r.errors.join('\n')).toMatch(/LIMIT must be a size/)
    }
  })
})
