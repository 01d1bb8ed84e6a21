import { isKafkaUnavailable } from '@opsreview/kafka/errors'
import { isElasticsearchUnavailable } from '@opsreview/search-index/errors'

/**
 * The exit code of an operator command that failed: 69 (EX_UNAVAILABLE) when Kafka or Elasticsearch was
 * unavailable, so the same command later may work; 70 (EX_SOFTWARE) for anything else.
 *
 * A kafkajs error by isKafkaUnavailable: kafkajs giving up after its retries of a refused connection
 * (KafkaJSNumberOfRetriesExceeded) says `retriable: false` of itself, and `err.retriable` alone made that 70,
 * a fault to report rather than a run to try again. Any other error by its own `retriable`: ours say it
 * (KafkaUnavailableError, a replay's UNAVAILABLE, a dead-letter read not done in time).
 */
export function failureExitCode(err: unknown): 69 | 70 {
  if (isKafkaUnavailable(err) || isElasticsearchUnavailable(err)) return 69
  const e = err as { name?: unknown; retriable?: unknown } | undefined
  const kafkajs = typeof e?.name === 'string' && e.name.startsWith('KafkaJS')
  return !kafkajs && e?.retriable === true ? 69 : 70
}
