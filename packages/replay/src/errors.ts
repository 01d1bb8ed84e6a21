import { isElasticsearchUnavailable } from '@opsreview/search-index/errors'

/**
 * The replay's errors. `retriable`: running the command again later can succeed (an engine was
 * unavailable); otherwise the operator has to change something first.
 */
export const replayErrors = {
  /** Kafka or Elasticsearch did not answer, or the read did not finish in time. */
  UNAVAILABLE: { retriable: true },
  /**
   * The live incidents or problems alias does not exist (a wrong index prefix, or no indexer has run):
   * there is nothing to compare with, and an empty live side would report every incident as new.
   */
  LIVE_INDEX_NOT_FOUND: { retriable: false },
  /** The grouping rules file cannot be read or is not valid rules. */
  RULES_INVALID: { retriable: false },
  /** `--drop` of a dataset that has no indices. */
  DATASET_NOT_FOUND: { retriable: false },
  /**
   * Another replay is writing a dataset of that name now (its mark, `<prefix>-whatif-<name>-writing`, exists):
   * run it again once that one is done, or `--drop` the mark a run killed outright left.
   */
  DATASET_BUSY: { retriable: true },
  /** A dataset name that would reach outside `<prefix>-whatif-…`. */
  DATASET_INVALID: { retriable: false },
} as const

export type ReplayErrorCode = keyof typeof replayErrors

export class ReplayError extends Error {
  readonly code: ReplayErrorCode
  readonly retriable: boolean

  constructor(code: ReplayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ReplayError'
    this.code = code
    this.retriable = replayErrors[code].retriable
  }
}

/**
 * Elasticsearch unavailable (isElasticsearchUnavailable: no connection, no answer in time, or an answer of 429
 * or 5xx), as the replay's `UNAVAILABLE` (exit 69, run it again). Anything else (a 4xx, an error of ours) is
 * returned as it is.
 */
export function elasticsearchUnavailable(err: unknown): unknown {
  return isElasticsearchUnavailable(err) ? new ReplayError('UNAVAILABLE', `Elasticsearch is unavailable: ${err.message}`, { cause: err }) : err
}
