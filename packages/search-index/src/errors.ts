import { errors as esErrors } from '@elastic/elasticsearch'

/**
 * Every way writing a record to Elasticsearch can fail, with a stable reason code and whether a retry can
 * help. Load and outages are retriable: the records wait and are retried with back-off. Everything else is
 * poison: the record itself can never be written (a mapping rejection, an index or alias that cannot
 * exist, a record that does not parse), so it goes to the dead-letter topic with its reason and the
 * partition moves on. The bulk pipeline is the one place that acts on this.
 */
export const INDEXER_FAILURES = Object.freeze({
  /** 429, `es_rejected_execution_exception`, `circuit_breaking_exception`: Elasticsearch is busy. */
  'es-overloaded': { retriable: true, what: 'Elasticsearch is overloaded (429, rejected execution, circuit breaker)' },
  /** A 5xx, a shard unavailable, a connection error or a timeout. */
  'es-unavailable': { retriable: true, what: 'Elasticsearch is unreachable or failing (5xx, connection error, timeout)' },
  /** `cluster_block_exception`: a flood-stage disk watermark, or a write block someone set. */
  'es-blocked': { retriable: true, what: 'the target index is blocked (flood-stage watermark, write block) or closed' },
  /** The Elasticsearch breaker is open: no request was sent. */
  'breaker-open': { retriable: true, what: 'the Elasticsearch breaker is open' },
  /** The dead-letter topic cannot be written now: the poison waits, with everything behind it. */
  'kafka-unavailable': { retriable: true, what: 'the dead-letter topic cannot be written' },
  /**
   * Elasticsearch refuses for a reason of the cluster's, not the document's: no permission (401, 403
   * `security_exception`, an API key that lost its privileges) or a cluster limit (`validation_exception`,
   * e.g. the shard limit when a new month's index is created, an alias left without a write index). Dead-lettering would throw away every record
   * until someone fixes it; waiting shows it as a stall instead.
   */
  'es-refused': { retriable: true, what: 'Elasticsearch refuses for a reason of the cluster (permissions, a cluster limit)' },
  /** The write alias vanished (its month was deleted): made again, then retried. */
  'alias-missing': { retriable: true, what: 'the write alias does not exist (yet)' },
  /** The document does not fit its mapping: a wrong type, an unknown field, an unparseable date. */
  'mapping-rejected': { retriable: false, what: 'Elasticsearch refuses the document for its mapping' },
  /** A keyword or flattened value longer than Lucene's 32,766-byte term limit. */
  'term-too-long': { retriable: false, what: 'a keyword value is longer than 32,766 bytes' },
  /** An index or alias name Elasticsearch refuses, or an event time with no month alias (year 10000). */
  'invalid-target': { retriable: false, what: 'the target index or alias cannot exist' },
  /** Not JSON. */
  unparseable: { retriable: false, what: 'the record is not JSON' },
  /** JSON, but not what the topic holds (no id, no version, no usable event time). */
  'schema-invalid': { retriable: false, what: 'the record is not what its topic should hold' },
  /** Any other 4xx item rejection: the document as it is will never be accepted. */
  'document-rejected': { retriable: false, what: 'Elasticsearch refuses the document' },
  /** A retriable error for this one item while Elasticsearch took others, on every attempt up to the limit. */
  'retries-exhausted': { retriable: false, what: 'one document kept failing while Elasticsearch accepted the others' },
})

export type IndexerFailureCode = keyof typeof INDEXER_FAILURES

export interface Classified {
  code: IndexerFailureCode
  retriable: boolean
  /** The Elasticsearch error type (and its cause's), or the error's name: what the classification was made from. */
  type: string
  message: string
}

const classified = (code: IndexerFailureCode, type: string, message: string): Classified => ({ code, retriable: INDEXER_FAILURES[code].retriable, type, message })

/** An error the indexer raises itself, carrying its catalogue entry. */
export class IndexerError extends Error {
  readonly code: IndexerFailureCode
  readonly retriable: boolean
  constructor(code: IndexerFailureCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'IndexerError'
    this.code = code
    this.retriable = INDEXER_FAILURES[code].retriable
  }
}

/** An Elasticsearch error object (an item's `error`, or a response body's `error`) with its causes. */
export interface EsErrorCause {
  type?: string
  reason?: string | null
  caused_by?: EsErrorCause
  root_cause?: EsErrorCause[]
}

/**
 * An error, the chain of its causes, and the root causes Elasticsearch lists beside them (which it writes
 * without causes of their own).
 */
export function causes(error: EsErrorCause | undefined): EsErrorCause[] {
  const out: EsErrorCause[] = []
  for (let e = error; e && out.length < 8; e = e.caused_by) out.push(e)
  for (const r of error?.root_cause ?? []) out.push(r)
  return out
}

const OVERLOADED = new Set(['es_rejected_execution_exception', 'circuit_breaking_exception'])
const UNAVAILABLE = new Set(['unavailable_shards_exception', 'no_shard_available_action_exception', 'node_not_connected_exception', 'node_disconnected_exception', 'master_not_discovered_exception', 'process_cluster_event_timeout_exception', 'timeout_exception', 'receive_timeout_transport_exception', 'connect_transport_exception', 'node_closed_exception', 'shard_not_in_primary_mode_exception'])
const MAPPING = new Set(['mapper_parsing_exception', 'document_parsing_exception', 'strict_dynamic_mapping_exception', 'illegal_argument_exception', 'mapper_exception'])
const TARGET = new Set(['invalid_index_name_exception', 'invalid_alias_name_exception', 'invalid_type_name_exception'])
const CLUSTER_REFUSALS = new Set(['security_exception', 'validation_exception'])
/**
 * A write-blocked index, or a closed one (an old month closed to free heap: 400 `index_closed_exception` since
 * Elasticsearch 6): the cluster's to open, not the document's fault. An outage of that index: its documents
 * wait until it is lifted, also while others are written, and are never dead-lettered.
 */
const BLOCKED = new Set(['cluster_block_exception', 'index_closed_exception'])

/**
 * An alias whose indices are all marked `is_write_index: false` (someone's alias change, a rollover done by
 * hand): an `illegal_argument_exception` like a mapping refusal, but the cluster's to fix, not the document's.
 */
const noWriteIndex = (e: EsErrorCause): boolean => e.type === 'illegal_argument_exception' && (e.reason ?? '').startsWith('no write index is defined for alias')

/**
 * An alias that cannot be made because an index holds its name (a stray write without `require_alias`, a
 * restore): an `invalid_alias_name_exception` like a name that can never be an alias, but the cluster's to fix
 * (delete or rename that index). Until then every document of that month was dead-lettered as `invalid-target`.
 */
const aliasNameTaken = (e: EsErrorCause): boolean => e.type === 'invalid_alias_name_exception' && / an index or data stream exists with the same name as the alias/.test(e.reason ?? '')

/** Lucene's "immense term" refusal, however it is wrapped (keyword: `illegal_argument_exception`; older: `max_bytes_length_exceeded_exception`). */
function isImmenseTerm(all: readonly EsErrorCause[]): boolean {
  return all.some((e) => e.type === 'max_bytes_length_exceeded_exception' || /immense (term|field)/.test(e.reason ?? ''))
}

/**
 * One bulk item's failure (the request itself succeeded). Status first for load and outages, then the
 * error type and its causes; an unknown 4xx is poison, an unknown 5xx retriable.
 */
export function classifyItemError(status: number, error: EsErrorCause | undefined): Classified {
  const all = causes(error)
  const type = error?.type ?? `status ${status}`
  const message = error?.reason ?? type
  if (BLOCKED.has(error?.type ?? '')) return classified('es-blocked', type, message)
  if (status === 429 || all.some((e) => OVERLOADED.has(e.type ?? ''))) return classified('es-overloaded', type, message)
  if (error?.type === 'index_not_found_exception') return classified('alias-missing', type, message)
  if (status >= 500 || UNAVAILABLE.has(error?.type ?? '')) return classified('es-unavailable', type, message)
  if (status === 401 || status === 403 || CLUSTER_REFUSALS.has(error?.type ?? '') || all.some(noWriteIndex) || all.some(aliasNameTaken)) return classified('es-refused', type, message)
  if (isImmenseTerm(all)) return classified('term-too-long', type, message)
  if (all.some((e) => TARGET.has(e.type ?? ''))) return classified('invalid-target', type, message)
  if (MAPPING.has(error?.type ?? '')) return classified('mapping-rejected', type, message)
  return classified('document-rejected', type, message)
}

interface ClientErrorShape {
  name?: string
  message?: string
  meta?: { statusCode?: number; body?: unknown }
  code?: unknown
  retriable?: boolean
}

/**
 * A failure that stopped a whole request, or preparing its target (creating a month's index and aliases):
 * `@elastic/elasticsearch`'s `ConnectionError`, `TimeoutError`, `ResponseError`, an open breaker, or our own
 * `IndexerError`. A response error is classified by its status and error body like an item; anything we
 * cannot tell apart is treated as an outage (retriable), never as poison.
 */
export function classifyRequestError(err: unknown): Classified {
  const e = (err ?? {}) as ClientErrorShape
  const message = e.message ?? String(err)
  if (err instanceof IndexerError) return classified(err.code, err.name, message)
  // opossum 10 rejects with a plain Error (name 'Error'): only its code says the breaker is open.
  if (e.code === 'EOPENBREAKER') return classified('breaker-open', e.code, message)
  const response = responseOf(err)
  if (response) return classifyItemError(response.status, response.error)
  return classified('es-unavailable', e.name ?? 'Error', message)
}

/** The HTTP answer behind a client's `ResponseError`: its status, and Elasticsearch's own error when the body holds one (a proxy's 404 page for a wrong URL does not). */
export interface ErrorResponse {
  status: number
  error: EsErrorCause | undefined
}

/** The answer behind a failed request; undefined for a failure with no answer (no connection, a timeout, an open breaker). */
export function responseOf(err: unknown): ErrorResponse | undefined {
  const e = (err ?? {}) as ClientErrorShape
  if (e.name !== 'ResponseError' || typeof e.meta?.statusCode !== 'number') return undefined
  const body = e.meta.body as { error?: EsErrorCause | string | null } | undefined
  const error = typeof body?.error === 'object' && body.error !== null ? body.error : undefined
  return { status: e.meta.statusCode, error }
}

/** Elasticsearch refused to create an index or document that exists already (`resource_already_exists_exception`). */
export const isAlreadyExists = (err: unknown): boolean => responseOf(err)?.error?.type === 'resource_already_exists_exception'

/** An HTTP status (of a response, or of one bulk item) that a later attempt can get past: 429 (too busy) or a 5xx. */
export const retriableStatus = (status: number) => status === 429 || status >= 500

/**
 * Elasticsearch did not serve a request but may later: no connection, no answer in time, no node alive, or
 * an answer of 429 or 5xx. A 4xx (the request is wrong) and errors not of the client are not. What a command
 * exits 69 for and the review API answers 503 for; the indexer classifies more finely (classifyRequestError).
 */
export function isElasticsearchUnavailable(err: unknown): err is esErrors.ElasticsearchClientError {
  return err instanceof esErrors.ConnectionError || err instanceof esErrors.TimeoutError || err instanceof esErrors.NoLivingConnectionsError
    || (err instanceof esErrors.ResponseError && retriableStatus(err.statusCode ?? 0))
}
