import type { Client } from '@elastic/elasticsearch'
import type { estypes } from '@elastic/elasticsearch'

/** Names derived from one prefix, so a test (or a second deployment) can own a separate set. */
export function alertIndexNames(prefix: string) {
  return {
    alias: `${prefix}-alerts`,
    template: `${prefix}-alerts`,
    pattern: `${prefix}-alerts-*`,
    /** Monthly indices by event time: old months can be dropped whole. */
    indexFor: (eventTime: string) => `${prefix}-alerts-${eventTime.slice(0, 4)}.${eventTime.slice(5, 7)}`,
  }
}

const keyword = { type: 'keyword' } as const
const date = { type: 'date' } as const
const textWithKeyword = { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 512 } } } as const

/** Explicit mappings: free-form labels are `flattened`, so arbitrary label names cannot explode the mapping. */
export const alertMappings: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    id: keyword,
    source: keyword,
    fingerprint: keyword,
    status: keyword,
    severity: keyword,
    service: keyword,
    environment: keyword,
    title: textWithKeyword,
    description: textWithKeyword,
    labels: { type: 'flattened' },
    startsAt: date,
    endsAt: date,
    receivedAt: date,
    eventAt: date,
    links: { type: 'object', enabled: false },
    origin: { type: 'object', enabled: false },
  },
}

/** Creates or updates the alert template; the alias comes with every monthly index it creates. */
export async function ensureAlertTemplate(es: Client, prefix: string, refreshInterval = '1s'): Promise<void> {
  const names = alertIndexNames(prefix)
  await es.indices.putIndexTemplate({
    name: names.template,
    index_patterns: [names.pattern],
    priority: 200,
    template: {
      settings: {
        number_of_shards: 1,
        number_of_replicas: 0,
        // Explicit, so a search-idle shard does not delay visibility.
        refresh_interval: refreshInterval,
      },
      mappings: alertMappings,
      aliases: { [names.alias]: {} },
    },
  })
}
