// The review's time limits that must agree: a read of Elasticsearch ends before the socket's idle timeout.
import { defaultServerTimeouts, type ServerTimeouts } from '@opsreview/http/hardening'

/**
 * The review's Elasticsearch client: each request 10 s; one that fails for want of a connection, or with a
 * 502, 503 or 504 (a proxy in front of Elasticsearch answers 504 after its own timeout), retried once. A
 * read must end before the socket's idle timeout, or its client sees the connection dropped instead of a
 * 503: with the transport's default of three retries, such failures held a read for up to 50 s against an
 * idle timeout of 30 s (until 2026-12-06). A request that timed out is not retried: @elastic/transport 8's
 * default, which @elastic/elasticsearch 8 does not let a client change.
 */
export const elasticsearchTimeouts = Object.freeze({ requestTimeout: 10_000, maxRetries: 1 })

/**
 * The longest a read can take: every attempt failing as late as its timeout lets it, retried, with the
 * transport's longest back-off before each retry (2^attempt seconds, at most 4: @elastic/transport's
 * `retryBackoff(0, 4, attempt)`).
 */
export function longestReadMs({ requestTimeout, maxRetries }: { requestTimeout: number; maxRetries: number }): number {
  let ms = requestTimeout * (maxRetries + 1)
  for (let attempt = 1; attempt <= maxRetries; attempt++) ms += Math.min(4, 2 ** attempt) * 1000
  return ms
}

/** The server's: its socket idle timeout also outlasts a `?wait=true`, during which the response is silent by design. */
export function reviewServerTimeouts(waitTimeoutMs: number): ServerTimeouts {
  return { ...defaultServerTimeouts, idleTimeoutMs: Math.max(defaultServerTimeouts.idleTimeoutMs, waitTimeoutMs + 5_000) }
}
