/**
 * The Elasticsearch client's connection options (node, API key, CA) of the validated configuration: the
 * indexer, the review service and the commands build their clients with these. The variables are parsed
 * and their files read by @opsreview/config (elasticsearchConnectionSpec); docs/production-connections.md
 * describes them.
 */
import type { ClientOptions } from '@elastic/elasticsearch'

/** The part of a service's validated configuration this reads (the shape elasticsearchConnectionSpec yields). */
export interface ElasticsearchConnectionConfig {
  readonly OPSREVIEW_ES_URL: string
  /** The base64 "encoded" API key; '' for none. */
  readonly OPSREVIEW_ES_API_KEY: string
  /** PEM content of the CA file, not its path. */
  readonly OPSREVIEW_ES_CA: string | undefined
}

export type ElasticsearchConnectionOptions = Required<Pick<ClientOptions, 'node'>> & Pick<ClientOptions, 'auth' | 'tls'>

export function elasticsearchConnectionOptions(c: ElasticsearchConnectionConfig): ElasticsearchConnectionOptions {
  return {
    node: c.OPSREVIEW_ES_URL,
    // Sent as `Authorization: ApiKey <key>`.
    ...(c.OPSREVIEW_ES_API_KEY === '' ? {} : { auth: { apiKey: c.OPSREVIEW_ES_API_KEY } }),
    // Only this CA is trusted then, and the host name is still verified.
    ...(c.OPSREVIEW_ES_CA === undefined ? {} : { tls: { ca: c.OPSREVIEW_ES_CA } }),
  }
}
