import type { Client, estypes } from '@elastic/elasticsearch'

/** Names derived from one prefix, so a test (or a second deployment) can own a separate set. */
export function indexNames(prefix: string) {
  return {
    alerts: {
      alias: `${prefix}-alerts`,
      template: `${prefix}-alerts`,
      pattern: `${prefix}-alerts-*`,
      /** Monthly indices by event time: old months can be dropped whole. */
      indexFor: (eventTime: string) => `${prefix}-alerts-${eventTime.slice(0, 4)}.${eventTime.slice(5, 7)}`,
    },
    incidents: { alias: `${prefix}-incidents`, template: `${prefix}-incidents`, pattern: `${prefix}-incidents-*`, first: `${prefix}-incidents-000001` },
    problems: { alias: `${prefix}-problems`, template: `${prefix}-problems`, pattern: `${prefix}-problems-*`, first: `${prefix}-problems-000001` },
  }
}

const keyword = { type: 'keyword' } as const
const date = { type: 'date' } as const
const bool = { type: 'boolean' } as const
const int = { type: 'integer' } as const
const long = { type: 'long' } as const
const text = { type: 'text' } as const
const textWithKeyword = { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 512 } } } as const

/** Explicit mappings: free-form labels are `flattened`, so arbitrary label names cannot explode the mapping. */
export const alertMappings: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    id: keyword, source: keyword, fingerprint: keyword, status: keyword, severity: keyword, service: keyword, environment: keyword,
    title: textWithKeyword, description: textWithKeyword, labels: { type: 'flattened' },
    startsAt: date, endsAt: date, receivedAt: date, eventAt: date,
    links: { type: 'object', enabled: false }, origin: { type: 'object', enabled: false },
  },
}

const note = { properties: { at: date, author: keyword, text } } as const

export const incidentMappings: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    id: keyword, title: textWithKeyword, status: keyword, severity: keyword, services: keyword, environment: keyword, groupKey: keyword,
    openedAt: date, resolvedAt: date, resolvedBy: keyword, lastEventAt: date, alertCount: int,
    alerts: {
      properties: {
        key: keyword, fingerprint: keyword, source: keyword, name: keyword, title: textWithKeyword, service: keyword, severity: keyword,
        status: keyword, firstSeenAt: date, lastSeenAt: date, resolvedAt: date, flapCount: int, autoResolved: bool,
      },
    },
    reports: { properties: { eventId: keyword, kind: keyword, title: text, reportedBy: keyword, at: date } },
    customerImpact: bool, owner: keyword, acknowledgedAt: date, acknowledgedBy: keyword, problemIds: keyword,
    postmortem: { properties: { required: bool, reasons: keyword, scheduledFor: date, owner: keyword } },
    notes: note, reopenCount: int, version: long,
    // Derived at index time, for MTTA/MTTR aggregations.
    timeToAcknowledgeMs: long, timeToResolveMs: long,
  },
}

export const problemMappings: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    id: keyword, kind: keyword, status: keyword, title: textWithKeyword, signature: keyword, services: keyword, environment: keyword,
    incidentIds: keyword, incidentCount: int, firstSeenAt: date, lastSeenAt: date, owner: keyword, notes: note, version: long,
  },
}

const settings = (refreshInterval: string): estypes.IndicesIndexSettings => ({
  number_of_shards: 1,
  number_of_replicas: 0,
  // Explicit, so a search-idle shard does not delay visibility.
  refresh_interval: refreshInterval,
})

/**
 * Creates or updates the templates and, when missing, the first incident and problem indices behind
 * their aliases. Alerts get their alias from the template (one index a month); incidents and problems get
 * theirs explicitly, so that a rebuild can fill a fresh index before the alias moves to it.
 */
export async function ensureIndices(es: Client, prefix: string, refreshInterval = '1s'): Promise<void> {
  const n = indexNames(prefix)
  await es.indices.putIndexTemplate({
    name: n.alerts.template, index_patterns: [n.alerts.pattern], priority: 200,
    template: { settings: settings(refreshInterval), mappings: alertMappings, aliases: { [n.alerts.alias]: {} } },
  })
  for (const [kind, mappings] of [['incidents', incidentMappings], ['problems', problemMappings]] as const) {
    const names = n[kind]
    await es.indices.putIndexTemplate({ name: names.template, index_patterns: [names.pattern], priority: 200, template: { settings: settings(refreshInterval), mappings } })
    if (!(await es.indices.existsAlias({ name: names.alias }))) {
      await es.indices.create({ index: names.first, aliases: { [names.alias]: { is_write_index: true } } }).catch((err: { meta?: { body?: { error?: { type?: string } } } }) => {
        // Two indexers starting together: the other one created it.
        if (err.meta?.body?.error?.type !== 'resource_already_exists_exception') throw err
      })
    }
  }
}
