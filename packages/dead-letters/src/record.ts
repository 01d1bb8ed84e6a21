import type { IHeaders } from 'kafkajs'
import { DEAD_LETTER_HEADERS, type DeadLetterReplay, type RecordReplay } from '@opsreview/kafka/dead-letter'

/** A record as read from a dead-letter topic, before anything is known about its shape. */
export interface RawDeadLetterRecord {
  topic: string
  partition: number
  offset: string
  /** The Kafka record's timestamp, epoch milliseconds as kafkajs gives it. */
  timestamp: string
  key: Buffer | string | null
  value: Buffer | string | null
  headers?: IHeaders | undefined
}

/**
 * Which shape the record had: the shared envelope (`packages/kafka/src/dead-letter.ts`), an older record
 * that still has a `reason` field (or none), or something that is not a JSON object at all.
 */
export type DeadLetterFormat = 'envelope' | 'legacy' | 'unparseable'

export interface DeadLetter {
  topic: string
  partition: number
  offset: string
  key: string | null
  /** When the stage gave up, epoch ms: the envelope's `at`, else the Kafka record's timestamp. */
  at: number
  /** The reason code; `unknown` when the record names none. */
  reason: string
  stage: string | undefined
  error: string | undefined
  format: DeadLetterFormat
  /** How to put it back; undefined when it cannot be (older records, or a malformed replay). */
  replay: DeadLetterReplay | undefined
  /** Why it cannot be replayed, when `replay` is undefined. */
  notReplayable: string | undefined
}

export const UNKNOWN_REASON = 'unknown'

const text = (v: Buffer | string | null | undefined): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : v.toString('utf8'))

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name]
  const first = Array.isArray(v) ? v[0] : v
  const s = text(first)
  return s === null || s.trim() === '' ? undefined : s.trim()
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)

function parseReplay(v: unknown): { replay: DeadLetterReplay } | { problem: string } {
  if (v === undefined || v === null) return { problem: 'no replay in the record' }
  if (typeof v !== 'object' || Array.isArray(v)) return { problem: 'replay is not an object' }
  const r = v as Record<string, unknown>
  if (r.kind === 'record') {
    if (!nonEmpty(r.topic)) return { problem: 'replay.topic is missing' }
    if (r.encoding !== undefined && r.encoding !== 'base64') return { problem: 'replay.encoding must be base64 or absent' }
    const encoded = r.encoding === 'base64'
    // What Buffer.from(…, 'base64') would otherwise read past without a word, putting back other bytes.
    const readable = (v: unknown) => typeof v === 'string' && (!encoded || BASE64.test(v))
    const what = encoded ? 'a base64 string' : 'a string'
    if (r.key !== null && !readable(r.key)) return { problem: `replay.key must be ${what} or null` }
    if (r.value !== null && !readable(r.value)) return { problem: `replay.value must be ${what} or null` }
    const headers = r.headers
    if (headers !== undefined) {
      if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) return { problem: 'replay.headers must be an object' }
      for (const [name, values] of Object.entries(headers)) {
        if (!Array.isArray(values) || !values.every((v) => v === null || readable(v))) return { problem: `replay.headers.${name} must be a list of ${encoded ? 'base64 strings' : 'strings'} or nulls` }
      }
    }
    const replay: RecordReplay = { kind: 'record', topic: (r.topic as string).trim(), key: r.key as string | null, value: r.value as string | null }
    if (encoded) replay.encoding = 'base64'
    if (headers !== undefined) replay.headers = headers as Record<string, (string | null)[]>
    return { replay }
  }
  if (r.kind === 'webhook') {
    if (typeof r.path !== 'string' || !r.path.startsWith('/')) return { problem: 'replay.path must be a path starting with /' }
    if (typeof r.body !== 'string') return { problem: 'replay.body must be a string' }
    return { replay: { kind: 'webhook', path: r.path, body: r.body } }
  }
  return { problem: `unknown replay kind ${JSON.stringify(r.kind)}` }
}

/**
 * Reads one dead-letter record whatever its shape. Never throws: a record that says nothing useful still
 * counts, under `unknown`, because a dead letter nobody can see is an alert dropped.
 */
export function parseDeadLetter(raw: RawDeadLetterRecord): DeadLetter {
  const base = { topic: raw.topic, partition: raw.partition, offset: raw.offset, key: text(raw.key) }
  const kafkaTime = Number(raw.timestamp)
  const headerReason = header(raw.headers, DEAD_LETTER_HEADERS.reason)
  const headerStage = header(raw.headers, DEAD_LETTER_HEADERS.stage)
  let body: unknown
  try {
    body = JSON.parse(text(raw.value) ?? '')
  } catch {
    body = undefined
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return {
      ...base, at: kafkaTime, reason: headerReason ?? UNKNOWN_REASON, stage: headerStage, error: undefined,
      format: 'unparseable', replay: undefined, notReplayable: 'the record is not a JSON object',
    }
  }
  const o = body as Record<string, unknown>
  const at = typeof o.at === 'string' ? Date.parse(o.at) : NaN
  const isEnvelope = nonEmpty(o.stage) !== undefined && nonEmpty(o.reason) !== undefined && !Number.isNaN(at)
  const omitted = (o.detail as { replayOmitted?: { bytes?: unknown; sha256?: unknown } } | undefined)?.replayOmitted
  const replay = o.replay === undefined && omitted
    ? { problem: `the record (${String(omitted.bytes)} bytes, sha256 ${String(omitted.sha256)}) was too large to carry: read it at its origin` }
    : parseReplay(o.replay)
  return {
    ...base,
    at: isEnvelope ? at : kafkaTime,
    reason: nonEmpty(o.reason) ?? headerReason ?? UNKNOWN_REASON,
    stage: nonEmpty(o.stage) ?? headerStage,
    error: nonEmpty(o.error) ?? nonEmpty(o.detail),
    format: isEnvelope ? 'envelope' : 'legacy',
    replay: 'replay' in replay ? replay.replay : undefined,
    notReplayable: 'problem' in replay ? replay.problem : undefined,
  }
}
