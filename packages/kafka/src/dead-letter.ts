import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import type { IHeaders, Message } from 'kafkajs'
import { DEAD_LETTER_MAX_MESSAGE_BYTES } from './topics.ts'

/** Which stage gave up on a record. */
export type DeadLetterStage = 'receiver' | 'correlator' | 'indexer'

/**
 * How a dead letter can be put back after a fix. `record`: a record that was on a topic already goes back
 * to that topic as it was. `webhook`: an input the receiver refused goes back through the receiver, so
 * the fixed validation and mapping run on it.
 */
export type DeadLetterReplay = RecordReplay | { kind: 'webhook'; path: string; body: string }

/**
 * A record to put back as it was read: key, value (null: a tombstone) and headers as text, or, when any of
 * them is not UTF-8 (a record another producer wrote: Avro, a compressed blob), every one of them in
 * base64, so that the bytes come back unchanged. opsreview's own records are JSON text and stay readable.
 */
export interface RecordReplay {
  kind: 'record'
  topic: string
  key: string | null
  value: string | null
  encoding?: 'base64'
  /** Each header's values in order (Kafka allows a name more than once); null for a header without a value. */
  headers?: Record<string, (string | null)[]>
}

type Bytes = Buffer | string | null | undefined

// kafkajs reads a header another client wrote without a value (Java's `new RecordHeader(name, null)`) as
// null, which its type leaves out.
const headerValues = (v: IHeaders[string] | null): (Buffer | string | null)[] => (v === undefined ? [] : Array.isArray(v) ? v : [v])

/** The replay of a record read from `topic` (a kafkajs message, or a record of opsreview's own as text). */
export function recordReplay(topic: string, record: { key: Bytes; value: Bytes; headers?: IHeaders | undefined }): RecordReplay {
  const headers = Object.entries(record.headers ?? {}).map(([name, v]) => [name, headerValues(v)] as const).filter(([, values]) => values.length > 0)
  const parts: Bytes[] = [record.key, record.value, ...headers.flatMap(([, values]) => values)]
  const text = parts.every((b) => b === null || b === undefined || typeof b === 'string' || isUtf8(b))
  const encode = (b: Buffer | string): string => (text ? b.toString() : (typeof b === 'string' ? Buffer.from(b) : b).toString('base64'))
  const orNull = (b: Bytes): string | null => (b === null || b === undefined ? null : encode(b))
  return {
    kind: 'record', topic, key: orNull(record.key), value: orNull(record.value),
    ...(text ? {} : { encoding: 'base64' as const }),
    ...(headers.length > 0 ? { headers: Object.fromEntries(headers.map(([name, values]) => [name, values.map(orNull)])) } : {}),
  }
}

/** The record a replay puts back: the bytes it was read as. */
export function replayedMessage(replay: RecordReplay): Message {
  const decode = (s: string | null): Buffer | string | null => (s === null ? null : replay.encoding === 'base64' ? Buffer.from(s, 'base64') : s)
  return {
    key: decode(replay.key),
    value: decode(replay.value),
    // kafkajs writes a null header value as a header without one, as it was read.
    ...(replay.headers ? { headers: Object.fromEntries(Object.entries(replay.headers).map(([name, values]) => [name, values.map(decode)])) as IHeaders } : {}),
  }
}

/** The replay's value as the bytes it stands for. */
const replayValueBytes = (replay: RecordReplay): Buffer => Buffer.from(replay.value ?? '', replay.encoding === 'base64' ? 'base64' : 'utf8')

/**
 * One envelope for every dead-letter topic, so that `pnpm opsreview dead-letters` can count by reason
 * and replay without knowing which stage wrote it. `reason` is a stable, lower-case code from the
 * stage's error catalogue (e.g. `schema-invalid`, `mapping-rejected`, `record-too-large`); `error` is
 * the human detail.
 */
export interface DeadLetterEnvelope {
  stage: DeadLetterStage
  reason: string
  error: string
  /** When the stage gave up, ISO 8601. */
  at: string
  /** Where the record was read from, for consumer stages. */
  origin?: { topic: string; partition: number; offset: string }
  /** What else the stage knows: field errors, the HTTP status, the target index. */
  detail?: Record<string, unknown>
  replay?: DeadLetterReplay
}

/** Headers carry the reason and stage too, so tools can filter without parsing values. */
export const DEAD_LETTER_HEADERS = Object.freeze({ stage: 'opsreview-stage', reason: 'opsreview-reason' })

/**
 * The field errors a dead letter lists; `detail.errorsOmitted` counts the rest. The validator lists every
 * failing field, and a record of 100,000 unknown fields has as many: listed whole, its dead letter grew
 * past what the dead-letter topic takes, and the stage stopped on that record instead of moving on.
 */
export const MAX_DEAD_LETTER_ERRORS = 100

function boundedDetail(detail: Record<string, unknown>): Record<string, unknown> {
  const errors = detail.errors
  if (!Array.isArray(errors) || errors.length <= MAX_DEAD_LETTER_ERRORS) return detail
  return { ...detail, errors: errors.slice(0, MAX_DEAD_LETTER_ERRORS), errorsOmitted: errors.length - MAX_DEAD_LETTER_ERRORS }
}

/** The largest dead letter value: the dead-letter topics' record limit, less room for its key, headers and framing. */
export const MAX_DEAD_LETTER_VALUE_BYTES = DEAD_LETTER_MAX_MESSAGE_BYTES - 64 * 1024
/** What a dead letter too large to carry its record keeps of it. */
export const OMITTED_REPLAY_HEAD_CHARS = 4096

/**
 * The envelope without its record, for a record too large to carry: its size, its sha256 and its head, so
 * it can be found at its origin. Such a record comes compressed (the broker checks a batch's compressed
 * size: 9 MB of text gzip to a few KB), and a dead letter carrying it whole was refused by the dead-letter
 * topic, which stopped the stage on that record for good (until 2026-12-05).
 */
function withoutReplay(envelope: DeadLetterEnvelope): DeadLetterEnvelope {
  const { replay, ...rest } = envelope
  if (!replay) return envelope
  const payload = replay.kind === 'record' ? replayValueBytes(replay) : Buffer.from(replay.body)
  // The head as the letter carried it (base64 for bytes that are not text); size and sha256 of the bytes themselves.
  const head = (replay.kind === 'record' ? replay.value ?? '' : replay.body).slice(0, OMITTED_REPLAY_HEAD_CHARS)
  const encoded = replay.kind === 'record' && replay.encoding ? { encoding: replay.encoding } : {}
  const omitted = { kind: replay.kind, bytes: payload.length, sha256: createHash('sha256').update(payload).digest('hex'), head, ...encoded }
  return { ...rest, detail: { ...rest.detail, replayOmitted: omitted } }
}

/**
 * The Kafka message for an envelope; the key groups a record's dead letters (its origin or its id). One
 * whose record would take it past what the dead-letter topic takes goes without it (`withoutReplay`): not
 * replayable, but written, so the stage moves on.
 */
export function deadLetterMessage(key: string, envelope: DeadLetterEnvelope): Message {
  const bounded = envelope.detail ? { ...envelope, detail: boundedDetail(envelope.detail) } : envelope
  let value = JSON.stringify(bounded)
  if (Buffer.byteLength(value) > MAX_DEAD_LETTER_VALUE_BYTES) {
    const small = withoutReplay(bounded)
    value = JSON.stringify(small)
    // Still too large: its texts are (100 field errors, each naming an unknown field of 110 KB).
    if (Buffer.byteLength(value) > MAX_DEAD_LETTER_VALUE_BYTES) value = JSON.stringify(cutTexts(small))
  }
  return { key, value, headers: { [DEAD_LETTER_HEADERS.stage]: envelope.stage, [DEAD_LETTER_HEADERS.reason]: envelope.reason } }
}

/** The longest text a dead letter keeps of any one string when it would not fit otherwise. */
export const MAX_DEAD_LETTER_TEXT_CHARS = 1024

/** Every string of the value cut to `MAX_DEAD_LETTER_TEXT_CHARS`, ending in `…`: 32 KB of keys at most, with 100 errors. */
function cutTexts<T>(value: T): T {
  const cut = (v: unknown): unknown => {
    if (typeof v === 'string') return v.length <= MAX_DEAD_LETTER_TEXT_CHARS ? v : `${v.slice(0, MAX_DEAD_LETTER_TEXT_CHARS - 1)}…`
    if (Array.isArray(v)) return v.map(cut)
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [cut(k) as string, cut(x)]))
    return v
  }
  return cut(value) as T
}
