import { parseDateTime } from '@opsreview/schemas'
import { WHAT_IF_DATASET_NAME } from '@opsreview/search-index/templates'

export type ReplayCommand =
  | { command: 'replay'; from: number; to: number; rulesFile?: string; dataset?: string; json: boolean; warmUpMs?: number }
  | { command: 'drop'; dataset: string }
  | { command: 'list'; json: boolean }
  | { command: 'help' }

export const REPLAY_USAGE = `usage: opsreview replay --from <time> [--to <time>] [--config <rules file>] [--warm-up <duration>] [--index <dataset>] [--json]
       opsreview replay --drop <dataset>
       opsreview replay --list [--json]

  Runs the correlation engine over the retained alerts and decisions of [--from, --to) with another
  configuration, offline, and reports against the live incidents and problems: incidents merged and
  split, problems found and lost, availability per service. Nothing live is written.

  --from, --to      an RFC 3339 date-time with offset (2026-11-30T08:00:00Z) or a date (2026-11-30, UTC
                    midnight), or a duration before now (90m, 24h, 7d); --to defaults to now
  --config <file>   grouping rules (YAML or JSON) to replay with; without it, the live grouping
  --warm-up <d>     how much input before --from to read, so windows (recurring, flapping, reopen) start
                    warm; default the longest window of the configuration (the recurring window, 7d)
  --index <name>    also write the replayed incidents and problems to the scratch dataset <name>
                    ([a-z0-9-]{1,40}), which the review API and dashboard open with ?dataset=<name>
  --json            the report as JSON
  --drop <name>     delete the scratch dataset <name>
  --list            the scratch datasets: name, incidents, problems, when written, whether complete

  Thresholds come from the correlator's variables (OPSREVIEW_QUIET_PERIOD, OPSREVIEW_REOPEN_WINDOW, …);
  see docs/replay.md.
`

const RELATIVE = /^(\d{1,6})(m|h|d)$/
const DURATION = /^(\d{1,6})(ms|s|m|h|d)$/
const UNIT = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/

/** An instant of --from/--to: a date-time with offset, a date, or a duration before `now`. */
export function parseTime(raw: string, now: number): number | undefined {
  const rel = RELATIVE.exec(raw)
  if (rel) return now - Number(rel[1]) * UNIT[rel[2] as 'm' | 'h' | 'd']
  return parseDateTime(DATE_ONLY.test(raw) ? `${raw}T00:00:00Z` : raw)
}

const flags = new Set(['--from', '--to', '--config', '--warm-up', '--index', '--drop'])

/** Reads `opsreview replay …`, naming every fault at once. */
export function parseReplayArgs(argv: readonly string[], now: number): { ok: true; value: ReplayCommand } | { ok: false; errors: string[]; rulesFile?: string } {
  const errors: string[] = []
  const values = new Map<string, string>()
  let json = false
  let list = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h' || arg === 'help') return { ok: true, value: { command: 'help' } }
    if (arg === '--json') { json = true; continue }
    if (arg === '--list') { list = true; continue }
    const eq = arg.indexOf('=')
    const name = eq > 0 ? arg.slice(0, eq) : arg
    if (!flags.has(name)) { errors.push(`unknown argument ${JSON.stringify(arg)}`); continue }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
    if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) {
      errors.push(`${name} needs a value`)
      if (value?.startsWith('--')) i--
      continue
    }
    if (values.has(name)) errors.push(`${name} given twice`)
    values.set(name, value)
  }
  const dataset = (flag: string) => {
    const v = values.get(flag)
    if (v !== undefined && !WHAT_IF_DATASET_NAME.test(v)) errors.push(`${flag} must be a dataset name of 1 to 40 characters a-z, 0-9 and -, got ${JSON.stringify(v)}`)
    return v
  }

  if (list) {
    for (const other of values.keys()) errors.push(`${other} cannot be combined with --list`)
    return errors.length > 0 ? { ok: false, errors } : { ok: true, value: { command: 'list', json } }
  }

  if (values.has('--drop')) {
    const name = dataset('--drop')
    for (const other of values.keys()) if (other !== '--drop') errors.push(`${other} cannot be combined with --drop`)
    if (json) errors.push('--json cannot be combined with --drop')
    return errors.length > 0 ? { ok: false, errors } : { ok: true, value: { command: 'drop', dataset: name! } }
  }

  const time = (flag: string): number | undefined => {
    const v = values.get(flag)
    if (v === undefined) return undefined
    const t = parseTime(v, now)
    if (t === undefined) errors.push(`${flag} must be a date-time with offset (2026-11-30T08:00:00Z), a date (2026-11-30) or a duration before now (24h), got ${JSON.stringify(v)}`)
    return t
  }
  const from = time('--from')
  const to = time('--to') ?? (values.has('--to') ? undefined : now)
  if (!values.has('--from')) errors.push('--from is required')
  if (from !== undefined && from < 0) errors.push('--from must not be before 1970-01-01: the log holds nothing earlier')
  if (from !== undefined && to !== undefined && from >= to) errors.push('--from must be before --to')
  if (to !== undefined && to > now) errors.push('--to must not be in the future: the log has nothing after now')
  let warmUpMs: number | undefined
  const warm = values.get('--warm-up')
  if (warm !== undefined) {
    const m = warm === '0' ? ['0', '0', 'ms'] : DURATION.exec(warm)
    if (!m) errors.push(`--warm-up must be a duration like 0, 6h or 7d, got ${JSON.stringify(warm)}`)
    else warmUpMs = Number(m[1]) * UNIT[m[2] as keyof typeof UNIT]
  }
  const index = dataset('--index')
  const rulesFile = values.get('--config')
  // The caller checks the rules file too, so that one run names every fault.
  if (errors.length > 0) return { ok: false, errors, ...(rulesFile !== undefined ? { rulesFile } : {}) }
  return {
    ok: true,
    value: {
      command: 'replay', from: from!, to: to!, json,
      ...(rulesFile !== undefined ? { rulesFile } : {}),
      ...(index !== undefined ? { dataset: index } : {}),
      ...(warmUpMs !== undefined ? { warmUpMs } : {}),
    },
  }
}
