import { describe, expect, it } from 'vitest'
import { parseReplayArgs } from './args.ts'
import { readFromOf } from './replay.ts'

const now = Date.parse('2026-12-01T12:00:00Z')

describe('parseReplayArgs', () => {
  it('reads absolute and relative times, the rules file, the dataset and --json', () => {
    expect(parseReplayArgs(['--from', '2026-11-30T08:00:00+01:00', '--to=2026-12-01', '--config', 'rules.yaml', '--index', 'ns-2', '--json'], now)).toEqual({
      ok: true, value: { command: 'replay', from: Date.parse('2026-11-30T07:00:00Z'), to: Date.parse('2026-12-01T00:00:00Z'), rulesFile: 'rules.yaml', dataset: 'ns-2', json: true },
    })
    expect(parseReplayArgs(['--from', '24h', '--warm-up', '6h'], now)).toEqual({ ok: true, value: { command: 'replay', from: now - 86_400_000, to: now, json: false, warmUpMs: 6 * 3_600_000 } })
    expect(parseReplayArgs(['--drop', 'ns-2'], now)).toEqual({ ok: true, value: { command: 'drop', dataset: 'ns-2' } })
    expect(parseReplayArgs(['--help'], now)).toEqual({ ok: true, value: { command: 'help' } })
  })

  it('lists every fault at once', () => {
    const r = parseReplayArgs(['--from', 'yesterday', '--to', '2026-11-30T08:00:00', '--index', 'Prod_1', '--bogus', '--config'], now)
    expect(r.ok).toBe(false)
    expect(!r.ok && r.errors).toEqual([
      'unknown argument "--bogus"',
      '--config needs a value',
      expect.stringMatching(/^--from must be a date-time/),
      expect.stringMatching(/^--to must be a date-time/),
      expect.stringMatching(/^--index must be a dataset name/),
    ])
  })

  it('refuses a missing or reversed range, a future end, a bad warm-up and a long dataset name', () => {
    const errors = (argv: string[]) => { const r = parseReplayArgs(argv, now); return r.ok ? [] : r.errors }
    expect(errors([])).toEqual(['--from is required'])
    expect(errors(['--from', '1h', '--to', '2h'])).toEqual(['--from must be before --to'])
    expect(errors(['--from', '1h', '--to', '2026-12-02'])).toEqual(['--to must not be in the future: the log has nothing after now'])
    expect(errors(['--from', '1h', '--warm-up', 'week'])).toEqual(['--warm-up must be a duration like 0, 6h or 7d, got "week"'])
    expect(errors(['--from', '1h', '--index', 'a'.repeat(41)])).toHaveLength(1)
    expect(errors(['--from', '1h', '--from', '2h'])).toEqual(['--from given twice'])
    // Before the epoch: the log holds nothing, and Elasticsearch refused the year before 0 the warm-up made.
    expect(errors(['--from', '0000-01-01', '--to', '0000-01-02'])).toEqual(['--from must not be before 1970-01-01: the log holds nothing earlier'])
    expect(errors(['--from', '999999d', '--to', '999998d'])).toEqual(['--from must not be before 1970-01-01: the log holds nothing earlier'])
    expect(errors(['--drop', 'x', '--from', '1h'])).toEqual(['--from cannot be combined with --drop'])
    expect(parseReplayArgs(['--list', '--json'], now)).toEqual({ ok: true, value: { command: 'list', json: true } })
    expect(errors(['--list', '--from', '1h'])).toEqual(['--from cannot be combined with --list'])
    // A rules file named with bad flags still comes back, so the caller can check it in the same run.
    expect(parseReplayArgs(['--from', 'x', '--config', 'r.yaml'], now)).toMatchObject({ ok: false, rulesFile: 'r.yaml' })
  })
})

describe('readFromOf', () => {
  it('starts the read at the epoch at the earliest, whatever the warm-up', () => {
    expect(readFromOf({ fromMs: 3_600_000, warmUpMs: 999_999 * 86_400_000, engineConfig: {} })).toBe(0)
    expect(readFromOf({ fromMs: 10 * 86_400_000, warmUpMs: 86_400_000, engineConfig: {} })).toBe(9 * 86_400_000)
  })
})
