import type { Message } from 'kafkajs'

/** Which stage gave up on a record. */
export type DeadLetterStage = 'receiver' | 'correlator' | 'indexer'

/**
 * How a dead letter can be put back after a fix. `record`: a record that was on a topic already goes back
 * to that topic as it was. `webhook`: an input the receiver refused goes back through the receiver, so
 * the fixed validation and mapping run on it.
 */
export type DeadLetterReplay =
  | { kind: 'record'; topic: string; key: string | null; value: string }
  | { kind: 'webhook'; path: string; body: string }

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

/** The Kafka message for an envelope; the key groups a record's dead letters (its origin or its id). */
export function deadLetterMessage(key: string, envelope: DeadLetterEnvelope): Message {
  return {
    key,
    value: JSON.stringify(envelope.detail ? { ...envelope, detail: boundedDetail(envelope.detail) } : envelope),
    headers: { [DEAD_LETTER_HEADERS.stage]: envelope.stage, [DEAD_LETTER_HEADERS.reason]: envelope.reason },
  }
}
