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
 * A record to put back as it was read: key, value (null: a tombstone) and header values, each as text, or,
 * when that part is not UTF-8 (a record another producer wrote: Avro, a compressed blob, a binary trace id),
 * in base64 and named in `base64`, so that its bytes come back unchanged. Only such parts are base64: one
 * binary header on a text value of 6 MiB would otherwise make the whole letter 4/3 of the record's size,
 * past what the dead-letter topic takes. opsreview's own records are JSON text and stay readable.
 */
export interface RecordReplay {
  kind: 'record'
  topic: string
  key: string | null
  value: string | null
  /** Each header's values in order (Kafka allows a name more than once); null for a header without a value. */
  headers?: Record<string, (string | null)[]>
  /** The parts in base64; absent when every part is text. */
  base64?: ReplayBase64Parts
  /**
   * Every part (key, value, each header value) in base64: how letters were written before `base64`, when any
   * part was not UTF-8. Never written now; read so that those letters, still on the dead-letter topics for
   * their retention, replay as they were.
   */
  encoding?: 'base64'
}

/** Which parts of a record replay are base64; every other part is UTF-8 text. */
export interface ReplayBase64Parts {
  key?: true
  value?: true
  /** For a header name, the positions in `headers[name]` of its values in base64. */
  headers?: Record<string, number[]>
}

type Bytes = Buffer | string | null | undefined

// kafkajs reads a header another client wrote without a value (Java's `new RecordHeader(name, null)`) as
// null, which its type leaves out.
const headerValues = (v: IHeaders[string] | null): (Buffer | string | null)[] => (v === undefined ? [] : Array.isArray(v) ? v : [v])

/** A part as a letter carries it: text when it is UTF-8 (the same bytes come back from it), else base64. */
function carried(b: Bytes): { text: string | null; base64: boolean } {
  if (b === null || b === undefined) return { text: null, base64: false }
  if (typeof b === 'string' || isUtf8(b)) return { text: b.toString(), base64: false }
  return { text: b.toString('base64'), base64: true }
}

/** The replay of a record read from `topic` (a kafkajs message, or a record of opsreview's own as text). */
export function recordReplay(topic: string, record: { key: Bytes; value: Bytes; headers?: IHeaders | undefined }): RecordReplay {
  const headers = Object.entries(record.headers ?? {}).map(([name, v]) => [name, headerValues(v).map(carried)] as const).filter(([, values]) => values.length > 0)
  const key = carried(record.key)
  const value = carried(record.value)
  const base64Headers = headers
    .map(([name, values]) => [name, values.flatMap((v, i) => (v.base64 ? [i] : []))] as const)
    .filter(([, positions]) => positions.length > 0)
  const base64: ReplayBase64Parts = {
    ...(key.base64 ? { key: true as const } : {}),
    ...(value.base64 ? { value: true as const } : {}),
    ...(base64Headers.length > 0 ? { headers: Object.fromEntries(base64Headers) } : {}),
  }
  return {
    kind: 'record', topic, key: key.text, value: value.text,
    ...(headers.length > 0 ? { headers: Object.fromEntries(headers.map(([name, values]) => [name, values.map((v) => v.text)])) } : {}),
    ...(Object.keys(base64).length > 0 ? { base64 } : {}),
  }
}

/** Whether a part of the replay is carried in base64: named in `base64`, or every part of an older letter. */
export function isBase64(replay: RecordReplay, part: 'key' | 'value' | { header: string; position: number }): boolean {
  if (replay.encoding === 'base64') return true
  if (typeof part === 'string') return replay.base64?.[part] === true
  // Own names only: a header called `constructor` must not find Object's.
  const positions = replay.base64?.headers && Object.hasOwn(replay.base64.headers, part.header) ? replay.base64.headers[part.header] : undefined
  return positions?.includes(part.position) ?? false
}

/** The record a replay puts back: the bytes it was read as. */
export function replayedMessage(replay: RecordReplay): Message {
  const decode = (s: string | null, base64: boolean): Buffer | string | null => (s === null ? null : base64 ? Buffer.from(s, 'base64') : s)
  const headers = replay.headers
    ? Object.fromEntries(Object.entries(replay.headers).map(([name, values]) => [name, values.map((v, position) => decode(v, isBase64(replay, { header: name, position })))]))
    : undefined
  return {
    key: decode(replay.key, isBase64(replay, 'key')),
    value: decode(replay.value, isBase64(replay, 'value')),
    // kafkajs writes a null header value as a header without one, as it was read.
    ...(headers ? { headers: headers as IHeaders } : {}),
  }
}

/** How the replay carries its value: `base64` when its bytes are not text, else undefined (UTF-8 text). */
export function replayValueEncoding(replay: RecordReplay): 'base64' | undefined {
  return isBase64(replay, 'value') ? 'base64' : undefined
}

/** The replay's value as the bytes it stands for. */
const replayValueBytes = (replay: RecordReplay): Buffer => Buffer.from(replay.value ?? '', replayValueEncoding(replay) ?? 'utf8')

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
  const head = wholeHead(replay.kind === 'record' ? replay.value ?? '' : replay.body, OMITTED_REPLAY_HEAD_CHARS)
  const encoding = replay.kind === 'record' ? replayValueEncoding(replay) : undefined
  const encoded = encoding ? { encoding } : {}
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
    if (typeof v === 'string') return v.length <= MAX_DEAD_LETTER_TEXT_CHARS ? v : `${wholeHead(v, MAX_DEAD_LETTER_TEXT_CHARS - 1)}…`
    if (Array.isArray(v)) return v.map(cut)
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [cut(k) as string, cut(x)]))
    return v
  }
  return cut(value) as T
}

/**
 * `text`'s first `max` UTF-16 units, one less when the last would be the first half of a surrogate pair: a
 * lone half is no text (JSON writes it as an escape, `\ud83d`, that readers decode as U+FFFD or `?`).
 */
export function wholeHead(text: string, max: number): string {
  if (text.length <= max) return text
  const last = text.charCodeAt(max - 1)
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max)
}
