import type { IHeaders } from 'kafkajs'
import { DEAD_LETTER_HEADERS, isBase64, type DeadLetterReplay, type RecordReplay, type ReplayBase64Parts } from '@opsreview/kafka/dead-letter'

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

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * `replay.base64`, checked against the parts it names: what it gets wrong would decode a part that is text
 * as base64, or the reverse, and put back other bytes.
 */
function base64Parts(r: Record<string, unknown>, headers: Record<string, unknown[]> | undefined): { base64?: ReplayBase64Parts } | { problem: string } {
  const b = r.base64
  if (b === undefined) return {}
  if (r.encoding !== undefined) return { problem: 'replay.base64 and replay.encoding cannot both be set' }
  if (!isObject(b)) return { problem: 'replay.base64 must be an object' }
  const unknown = Object.keys(b).find((part) => part !== 'key' && part !== 'value' && part !== 'headers')
  if (unknown !== undefined) return { problem: `replay.base64.${unknown} is not a part of a record` }
  for (const part of ['key', 'value'] as const) {
    if (b[part] === undefined) continue
    if (b[part] !== true) return { problem: `replay.base64.${part} must be true or absent` }
    if (r[part] === null) return { problem: `replay.base64.${part} names a null ${part}` }
  }
  if (b.headers !== undefined) {
    if (!isObject(b.headers)) return { problem: 'replay.base64.headers must be an object' }
    for (const [name, positions] of Object.entries(b.headers)) {
      const values = headers && Object.hasOwn(headers, name) ? headers[name]! : undefined
      if (!values) return { problem: `replay.base64.headers.${name} names a header the replay does not have` }
      const valid = Array.isArray(positions) && positions.every((p) => Number.isInteger(p) && p >= 0 && p < values.length && values[p as number] !== null)
      if (!valid) return { problem: `replay.base64.headers.${name} must list positions of values in replay.headers.${name}` }
    }
  }
  return { base64: b as ReplayBase64Parts }
}

/**
 * Why a letter's replay cannot be sent, when its detail says so: the record too large to carry, a replay
 * Kafka refused the letter with, or a receiver's request body cut or never read (its replay, in letters
 * written before 2026-12-06, was that cut body: sent, it failed as invalid JSON and left a letter of
 * another reason). Undefined when nothing there stands in the way.
 */
function unreplayable(o: Record<string, unknown>): { problem: string } | undefined {
  const detail = isObject(o.detail) ? o.detail : {}
  const omitted = detail.replayOmitted as { bytes?: unknown; sha256?: unknown } | undefined
  if (o.replay === undefined && omitted) return { problem: `the record (${String(omitted.bytes)} bytes, sha256 ${String(omitted.sha256)}) was too large to carry: read it at its origin` }
  if (o.replay === undefined && typeof detail.replayDropped === 'string') return { problem: `the replay was left out for its size (${detail.replayDropped.slice(0, 200)}): read the input at its origin` }
  const replay = isObject(o.replay) ? o.replay : undefined
  // A receiver's request: written since 2026-12-06 without a replay, before with the cut or empty body as one.
  const request = replay?.kind === 'webhook' || (replay === undefined && o.stage === 'receiver')
  if (!request) return undefined
  if (detail.bodyTruncated === true) return { problem: `the request's body was cut (${String(detail.bodyBytes)} bytes, the first kept to be read): its sender must send it again` }
  if (replay ? replay.body === '' : detail.bodyBytes === 0) return { problem: 'the request was refused before its body was read (too large, or not JSON): its sender must send it again' }
  return undefined
}

function parseReplay(v: unknown): { replay: DeadLetterReplay } | { problem: string } {
  if (v === undefined || v === null) return { problem: 'no replay in the record' }
  if (!isObject(v)) return { problem: 'replay is not an object' }
  if (v.kind === 'record') return parseRecordReplay(v)
  if (v.kind === 'webhook') {
    if (typeof v.path !== 'string' || !v.path.startsWith('/')) return { problem: 'replay.path must be a path starting with /' }
    if (typeof v.body !== 'string') return { problem: 'replay.body must be a string' }
    return { replay: { kind: 'webhook', path: v.path, body: v.body } }
  }
  return { problem: `unknown replay kind ${JSON.stringify(v.kind)}` }
}

/** A record to put back on its topic: its shape, then whether each part reads as the encoding it is said to have. */
function parseRecordReplay(r: Record<string, unknown>): { replay: RecordReplay } | { problem: string } {
  if (!nonEmpty(r.topic)) return { problem: 'replay.topic is missing' }
  if (r.encoding !== undefined && r.encoding !== 'base64') return { problem: 'replay.encoding must be base64 or absent' }
  // An older letter: every part base64.
  const all = r.encoding === 'base64'
  const headers = r.headers
  if (headers !== undefined) {
    if (!isObject(headers)) return { problem: 'replay.headers must be an object' }
    for (const [name, values] of Object.entries(headers)) {
      if (!Array.isArray(values) || !values.every((v) => v === null || typeof v === 'string')) return { problem: `replay.headers.${name} must be a list of ${all ? 'base64 strings' : 'strings'} or nulls` }
    }
  }
  const parts = base64Parts(r, headers as Record<string, unknown[]> | undefined)
  if ('problem' in parts) return parts
  const replay: RecordReplay = { kind: 'record', topic: (r.topic as string).trim(), key: r.key as string | null, value: r.value as string | null }
  if (headers !== undefined) replay.headers = headers as Record<string, (string | null)[]>
  if (parts.base64) replay.base64 = parts.base64
  if (all) replay.encoding = 'base64'
  const unreadable = unreadablePart(replay)
  return unreadable === undefined ? { replay } : { problem: unreadable }
}

/** What Buffer.from(…, 'base64') would read past without a word, putting back other bytes: the first such part. */
function unreadablePart(replay: RecordReplay): string | undefined {
  for (const part of ['key', 'value'] as const) {
    const v: unknown = replay[part]
    const base64 = isBase64(replay, part)
    if (v !== null && !(typeof v === 'string' && (!base64 || BASE64.test(v)))) return `replay.${part} must be ${base64 ? 'a base64 string' : 'a string'} or null`
  }
  for (const [name, values] of Object.entries(replay.headers ?? {})) {
    const bad = values.findIndex((v, position) => v !== null && isBase64(replay, { header: name, position }) && !BASE64.test(v))
    if (bad < 0) continue
    return replay.encoding === 'base64' ? `replay.headers.${name} must be a list of base64 strings or nulls` : `replay.headers.${name}[${bad}] must be a base64 string`
  }
  return undefined
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
  const replay = unreplayable(o) ?? parseReplay(o.replay)
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
