import { parseArgs } from 'node:util'
import { parseSince } from './summary.ts'

export interface ListCommand {
  command: 'list'
  sinceMs: number | undefined
  reasons: string[]
  topics: string[]
  json: boolean
}

export interface ReplayCommand {
  command: 'replay'
  sinceMs: number
  reasons: string[]
  topics: string[]
  dryRun: boolean
  json: boolean
}

export type DeadLettersCommand = ListCommand | ReplayCommand | { command: 'help' }

export const DEAD_LETTERS_USAGE = `usage:
  opsreview dead-letters [--since 24h|ISO-time] [--topic T]... [--reason R]... [--json]
      Counts dead letters by topic and reason, with the first and last time of each.
  opsreview dead-letters replay --reason R [--reason R]... --since 24h|ISO-time [--topic T]... [--dry-run] [--json]
      Puts matching dead letters back after a fix: records to their topic, webhooks through the receiver.
`

const OPTIONS = {
  since: { type: 'string' },
  topic: { type: 'string', multiple: true },
  reason: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

const splitList = (values: readonly string[] | undefined): string[] => [...new Set((values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean))]

/**
 * The arguments after `dead-letters`. Every problem is reported at once. `replay` needs both `--reason`
 * and `--since`: replaying every dead letter ever written is never what a fix calls for.
 */
export function parseDeadLettersArgs(argv: readonly string[], now: number): { ok: true; value: DeadLettersCommand } | { ok: false; errors: string[] } {
  const errors: string[] = []
  // Not strict: unknown options are collected below with every other problem instead of thrown one by one.
  const parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false, tokens: true })
  const given = new Set<string>()
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue
    const spec = OPTIONS[t.name as keyof typeof OPTIONS] as { type: 'string' | 'boolean'; multiple?: boolean } | undefined
    if (!spec) errors.push(`unknown option ${t.rawName}`)
    else if (spec.type === 'string' && (t.value === undefined || t.value === '')) errors.push(`${t.rawName} needs a value`)
    // Not strict, parseArgs takes the next argument whatever it is: `--reason x --reason --dry-run` was a
    // replay for real of reason x (and "--dry-run"). A value that begins with a dash goes with `=`.
    else if (spec.type === 'string' && t.inlineValue === false && t.value?.startsWith('-')) errors.push(`${t.rawName} needs a value, got the option ${t.value} (a value beginning with - goes as ${t.rawName}=${t.value})`)
    else if (spec.type === 'string' && !spec.multiple && given.has(t.name)) errors.push(`${t.rawName} given twice`)
    else if (spec.type === 'boolean' && t.value !== undefined) errors.push(`${t.rawName} takes no value`)
    given.add(t.name)
  }
  const v = parsed.values as { since?: string | boolean; topic?: (string | boolean)[]; reason?: (string | boolean)[]; json?: boolean; 'dry-run'?: boolean; help?: boolean }
  if (v.help) return { ok: true, value: { command: 'help' } }
  const [sub, ...extra] = parsed.positionals
  if (sub !== undefined && sub !== 'replay' && sub !== 'list') errors.push(`unknown subcommand ${JSON.stringify(sub)} (list or replay)`)
  if (extra.length > 0) errors.push(`unexpected argument(s): ${extra.join(' ')}`)
  const strings = (xs: (string | boolean)[] | undefined) => (xs ?? []).filter((x): x is string => typeof x === 'string')
  const topics = splitList(strings(v.topic))
  const reasons = splitList(strings(v.reason))
  let sinceMs: number | undefined
  if (typeof v.since === 'string' && v.since !== '') {
    const s = parseSince(v.since, now)
    if (s.ok) sinceMs = s.ms
    else errors.push(s.error)
  }
  const json = v.json === true
  if (sub === 'replay') {
    if (reasons.length === 0) errors.push('replay needs --reason (the reason code the fix covers; see `opsreview dead-letters`)')
    if (v.since === undefined) errors.push('replay needs --since (e.g. 24h, or the time the problem began)')
    if (errors.length > 0) return { ok: false, errors }
    return { ok: true, value: { command: 'replay', sinceMs: sinceMs!, reasons, topics, dryRun: v['dry-run'] === true, json } }
  }
  if (v['dry-run']) errors.push('--dry-run is for replay')
  if (errors.length > 0) return { ok: false, errors }
  return { ok: true, value: { command: 'list', sinceMs, reasons, topics, json } }
}
