/**
 * Environment configuration, checked once at start. Each field parses one variable (a few also read
 * its `…_FILE` twin or a variable it depends on: `parseEnv`); `readConfig` runs them all and reports
 * every error together, so an operator fixes a bad deployment in one go.
 */

import { fail, integer, ok } from './parse.ts'
import type { Field, Parsed, Spec, ConfigOf, Env } from './types.ts'

export type { ConfigOf, Env, Field, Parsed, Spec } from './types.ts'

function withDefault<T>(def: T | undefined, doc: string, parse: (raw: string) => Parsed<T>): Field<T> {
  return {
    doc,
    parse: (raw) => {
      if (raw === undefined || raw.trim() === '') return def === undefined ? fail('is required') : ok(def)
      return parse(raw.trim())
    },
  }
}

/** The longest delay Node's timers take (2^31 - 1 ms, 24 days 20 hours). */
export const TIMER_MAX_MS = 2 ** 31 - 1

export const field = {
  string: (doc: string, def?: string): Field<string> => withDefault(def, doc, (raw) => ok(raw)),
  int: (doc: string, def?: number, range: { min?: number; max?: number } = {}): Field<number> =>
    withDefault(def, doc, (raw) => integer(raw, range)),
  /** A port to listen on: not 0, which listens on a port the system picks, that no sender or scraper is told. */
  port: (doc: string, def?: number): Field<number> => field.int(doc, def, { min: 1, max: 65535 }),
  list: (doc: string, def?: string[], { minItems = 0 } = {}): Field<string[]> => withDefault(def, doc, (raw) => listOf(raw, minItems)),
  oneOf: <T extends string>(doc: string, values: readonly T[], def?: T): Field<T> =>
    withDefault(def, doc, (raw) => (values.includes(raw as T) ? ok(raw as T) : fail(`must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`))),
  /**
   * An http or https URL. Any URL passed before: `es.internal:9200` (no scheme) parses as a URL of scheme
   * `es.internal:`, and the service started to fail on its first request instead.
   */
  url: (doc: string, def?: string): Field<string> =>
    withDefault(def, doc, (raw) => (httpUrl(raw) ? ok(raw) : fail(`must be an http or https URL, got ${JSON.stringify(withoutUserInfo(raw))}`))),
  /** A duration such as 500ms, 30s, 5m, 24h or 7d, in milliseconds, within `min` and `max` when given. */
  duration: (doc: string, def?: number, { min = 0, max = Infinity }: { min?: number; max?: number } = {}): Field<number> =>
    withDefault(def, doc, (raw) => {
      const m = raw === '0' ? null : /^(\d+)\s*(ms|s|m|h|d)$/.exec(raw)
      if (!m && raw !== '0') return fail(`must be a duration like 30s, 5m, 24h or 7d, got ${JSON.stringify(raw)}`)
      const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'] : 0
      if (ms < min) return fail(`must be at least ${min} ms, got ${ms} ms`)
      return ms > max ? fail(`must be at most ${max} ms, got ${ms} ms`) : ok(ms)
    }),
  /**
   * A duration a timer waits (`setTimeout`, `setInterval`): at most `TIMER_MAX_MS`. Node runs a longer
   * delay after 1 ms instead, with only a warning: a tick interval of `30d` ticked every partition as fast
   * as the sends returned.
   */
  timer: (doc: string, def?: number, { min = 0, max = TIMER_MAX_MS }: { min?: number; max?: number } = {}): Field<number> =>
    field.duration(doc, def, { min, max: Math.min(max, TIMER_MAX_MS) }),
  /** A variable `parse` reads once trimmed; `def` when unset or empty. */
  custom: <T>(doc: string, def: T, parse: (raw: string) => Parsed<T>): Field<T> => withDefault(def, doc, parse),
  /**
   * A size such as 1mb, 512kb or 1048576 (bytes), at least `min` (a limit of 0 refuses everything) and at
   * most `max` (what a protocol field can carry).
   */
  bytes: (doc: string, def?: number, { min = 1024, max = Number.MAX_SAFE_INTEGER } = {}): Field<number> =>
    withDefault(def, doc, (raw) => {
      const m = /^(\d+)\s*(b|kb|kib|mb|mib)?$/i.exec(raw)
      if (!m) return fail(`must be a size like 1mb or 1048576, got ${JSON.stringify(raw)}`)
      const unit = (m[2] ?? 'b').toLowerCase()
      const mult = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1
      const n = Number(m[1]) * mult
      if (n < min) return fail(`must be at least ${min} bytes, got ${JSON.stringify(raw)}`)
      return n > max ? fail(`must be at most ${max} bytes, got ${JSON.stringify(raw)}`) : ok(n)
    }),
  /**
   * A Kafka topic name, as the broker checks it: a name it refuses passed the start and failed at the first
   * send, with Pingdom's and the reports' events acknowledged from the spool and never delivered.
   */
  topic: (doc: string, def: string): Field<string> => ({
    ...withDefault(def, doc, (raw) => (legalTopic(raw) ? ok(raw) : fail(`must be a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -, not . or ..), got ${JSON.stringify(raw)}`))),
    topic: true,
  }),
  /** Kafka bootstrap brokers: comma-separated `host:port` (an IPv6 host in brackets). */
  brokers: (doc: string, def: string[]): Field<string[]> =>
    withDefault(def, doc, (raw) => {
      const items = listOf(raw, 1)
      if (!items.ok) return items
      const bad = items.value.filter((b) => !brokerAddress(b))
      return bad.length > 0 ? fail(`must be host:port, each port 1-65535 (an IPv6 host in brackets), got ${bad.map((b) => JSON.stringify(b)).join(', ')}`) : items
    }),
}

function httpUrl(raw: string): boolean {
  const u = URL.parse(raw)
  return u !== null && (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== ''
}

/**
 * A URL as an error may quote it: a user and password before `@` (Elasticsearch takes them there) are left
 * out, so a typo elsewhere in the URL does not put the password in the logs.
 */
function withoutUserInfo(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1…@')
}

/** Comma-separated values, trimmed, empty ones dropped, at least `minItems` (`field.list`'s parse, for fields built on it). */
export function listOf(raw: string, minItems: number): Parsed<string[]> {
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean)
  return items.length < minItems ? fail(`needs at least ${minItems} comma-separated value(s)`) : ok(items)
}

const legalTopic = (name: string): boolean => /^[a-zA-Z0-9._-]{1,249}$/.test(name) && name !== '.' && name !== '..'

function brokerAddress(broker: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(broker)
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535
}

export type ConfigResult<S extends Spec> = { ok: true; value: ConfigOf<S> } | { ok: false; errors: string[] }

/** Parses every field of `spec` from `env`; the result is frozen. */
export function readConfig<S extends Spec>(spec: S, env: Env): ConfigResult<S> {
  const errors: string[] = []
  const out: Record<string, unknown> = {}
  const topics = new Map<string, string>()
  for (const [name, f] of Object.entries(spec)) {
    const r = f.parseEnv ? f.parseEnv(env, name) : f.parse(env[name])
    if (!r.ok) {
      errors.push(`${name} ${r.error} (${f.doc})`)
      continue
    }
    out[name] = r.value
    if (!f.topic) continue
    const other = topics.get(r.value as string)
    if (other) errors.push(`${name} names the same topic as ${other}, ${JSON.stringify(r.value)}: each must be a topic of its own (${f.doc})`)
    else topics.set(r.value as string, name)
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: Object.freeze(out) as ConfigOf<S> }
}

/** For main.ts: the config, or every error on stderr and exit code 78 (EX_CONFIG). */
export function loadConfigOrExit<S extends Spec>(service: string, spec: S, env: Env): ConfigOf<S> {
  const r = readConfig(spec, env)
  if (r.ok) return r.value
  process.stderr.write(`${service}: invalid configuration:\n${r.errors.map((e) => `  - ${e}`).join('\n')}\n`)
  process.exit(78)
}

export { elasticsearchConnectionSpec, kafkaConnectionSpec, kafkaSaslMechanisms, type KafkaSaslMechanism } from './connections.ts'
