import type { FieldError } from '@opsreview/schemas'

/**
 * The review's own HTTP-facing errors, beside the shared catalogue of `@opsreview/http`: each code has one
 * status. None is retriable as it is, except that an in-flight Idempotency-Key is worth retrying later.
 */
export const reviewProblems = {
  /** The same key came with another request: RFC draft "The Idempotency-Key HTTP Header Field", § 2.7. */
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency-Key already used for a different request', retriable: false },
  /** The first request with this key has not answered yet. */
  IDEMPOTENCY_KEY_IN_FLIGHT: { status: 409, title: 'A request with this Idempotency-Key is still in progress', retriable: true },
  /** `Idempotency-Replay: only` asked for the answer kept for a key that is not (or no longer) kept: nothing was published. */
  IDEMPOTENCY_KEY_UNKNOWN: { status: 404, title: 'No answer is kept for this Idempotency-Key', retriable: false },
  /** `?dataset=` names no what-if dataset (docs/replay.md). */
  DATASET_NOT_FOUND: { status: 404, title: 'No such what-if dataset', retriable: false },
  /** A decision on a what-if dataset: it is a replay, not live, and no correlator applies commands to it. */
  DATASET_READ_ONLY: { status: 409, title: 'What-if datasets take no decisions', retriable: false },
  /** The correlator refused a decision (`?wait=true`): the detail is its reason, e.g. "incident is already resolved". */
  DECISION_REFUSED: { status: 409, title: 'The decision was refused', retriable: false },
} as const

export type ReviewProblemCode = keyof typeof reviewProblems

export class ReviewProblem extends Error {
  readonly code: ReviewProblemCode
  readonly status: number
  readonly title: string
  readonly retriable: boolean
  readonly errors: FieldError[] | undefined
  readonly retryAfterSeconds: number | undefined

  constructor(code: ReviewProblemCode, detail: string, extra: { errors?: FieldError[]; retryAfterSeconds?: number } = {}) {
    super(detail)
    this.name = 'ReviewProblem'
    this.code = code
    this.status = reviewProblems[code].status
    this.title = reviewProblems[code].title
    this.retriable = reviewProblems[code].retriable
    this.errors = extra.errors
    this.retryAfterSeconds = extra.retryAfterSeconds
  }
}

/** Counting dead letters failed: Kafka did not answer in time or at all. Worth retrying. */
export class DeadLetterCountError extends Error {
  readonly retriable = true
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DeadLetterCountError'
  }
}
