import { describe, expect, it } from 'vitest'
import { parseDeadLettersArgs } from './args.ts'

const NOW = Date.parse('2026-12-01T12:00:00.000Z')

describe('parseDeadLettersArgs', () => {
  it('lists everything by default', () => {
    expect(parseDeadLettersArgs([], NOW)).toEqual({ ok: true, value: { command: 'list', sinceMs: undefined, reasons: [], topics: [], json: false } })
  })

  it('takes --since, repeated or comma-separated --topic, and --json', () => {
    expect(parseDeadLettersArgs(['--since', '24h', '--topic', 'a,b', '--topic=c', '--json'], NOW)).toEqual({
      ok: true, value: { command: 'list', sinceMs: NOW - 86_400_000, reasons: [], topics: ['a', 'b', 'c'], json: true },
    })
  })

  it('reads a replay', () => {
    expect(parseDeadLettersArgs(['replay', '--reason', 'schema-invalid', '--since', '2026-12-01T06:00:00Z', '--dry-run'], NOW)).toEqual({
      ok: true, value: { command: 'replay', sinceMs: Date.parse('2026-12-01T06:00:00Z'), reasons: ['schema-invalid'], topics: [], dryRun: true, json: false },
    })
  })

  it('refuses a replay without --reason and --since, naming both', () => {
    const r = parseDeadLettersArgs(['replay'], NOW)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.errors).toHaveLength(2)
      expect(r.errors.join('\n')).toMatch(/replay needs --reason/)
      expect(r.errors.join('\n')).toMatch(/replay needs --since/)
    }
  })

  it('lists every problem at once', () => {
    const r = parseDeadLettersArgs(['replay', '--since', 'yesterday', '--reasn', 'x', '--json=yes', '--topic', 'extra'], NOW)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      const all = r.errors.join('\n')
      expect(all).toMatch(/unknown option --reasn/)
      expect(all).toMatch(/--json takes no value/)
      expect(all).toMatch(/--since must be a duration/)
      expect(all).toMatch(/replay needs --reason/)
    }
  })

  it('refuses an unknown subcommand, --dry-run without replay, and a --since without a value', () => {
    const r = parseDeadLettersArgs(['show', '--dry-run', '--since'], NOW)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.errors.join('\n')).toMatch(/unknown subcommand "show"/)
      expect(r.errors.join('\n')).toMatch(/--dry-run is for replay/)
      expect(r.errors.join('\n')).toMatch(/--since needs a value/)
    }
  })

  it('answers --help', () => {
    expect(parseDeadLettersArgs(['replay', '--help'], NOW)).toEqual({ ok: true, value: { command: 'help' } })
  })

  it('takes no option for the value of another: a --dry-run after a --reason or --topic without its value is refused, not replayed for real', () => {
    for (const argv of [
      ['replay', '--since', '24h', '--reason', 'schema-invalid', '--reason', '--dry-run'],
      ['replay', '--since', '24h', '--reason', 'schema-invalid', '--topic', '--dry-run'],
      ['replay', '--reason', 'schema-invalid', '--since', '-h'],
    ]) {
      const r = parseDeadLettersArgs(argv, NOW)
      expect(r, argv.join(' ')).toMatchObject({ ok: false })
      if (!r.ok) expect(r.errors.join('\n'), argv.join(' ')).toMatch(/^--(reason|topic|since) needs a value/)
    }
    // A value that begins with a dash is still given with `=`.
    expect(parseDeadLettersArgs(['--topic=-odd'], NOW)).toMatchObject({ ok: true, value: { topics: ['-odd'] } })
  })

  it('refuses --since given twice instead of taking the last', () => {
    const r = parseDeadLettersArgs(['replay', '--reason', 'schema-invalid', '--since', '1h', '--since', '30d'], NOW)
    expect(r).toEqual({ ok: false, errors: ['--since given twice'] })
  })
})
