import type { Client, estypes } from '@elastic/elasticsearch'
import { indexNames } from '@opsreview/search-index/templates'
import type { ComparedIncident, ComparedProblem, Run } from './compare.ts'
import { ReplayError } from './errors.ts'

/** The live run as the indices hold it: its alert changes come from the log the replay reads. */
export type IndexedRun = Omit<Run, 'changes'>

const incidentFields = ['id', 'title', 'status', 'services', 'environment', 'openedAt', 'resolvedAt', 'resolvedBy', 'alerts.key', 'alerts.source', 'alerts.name', 'alerts.service', 'alerts.severity', 'alerts.firstSeenAt', 'alerts.lastSeenAt', 'alerts.resolvedAt', 'alerts.autoResolved', 'alerts.guessedEnds', 'reports.eventId']
const problemFields = ['id', 'kind', 'signature', 'status', 'title', 'incidentCount', 'firstSeenAt', 'lastSeenAt']

/** Every document a query matches, page by page (search_after on the id). */
async function all<T>(es: Client, index: string, query: estypes.QueryDslQueryContainer, fields: string[], signal: AbortSignal | undefined): Promise<T[]> {
  const out: T[] = []
  let after: estypes.SortResults | undefined
  for (;;) {
    signal?.throwIfAborted()
    const r = await es.search<T>({ index, size: 2000, query, sort: [{ id: 'asc' }], _source: fields, ...(after ? { search_after: after } : {}) }, { signal })
    for (const h of r.hits.hits) out.push(h._source!)
    if (r.hits.hits.length < 2000) return out
    after = r.hits.hits.at(-1)!.sort
  }
}

/**
 * The live incidents that touch [readFrom, to) (opened before its end, not resolved before its start) and
 * the live problems seen in [from, to), from the aliases the indexer writes. Incidents are read from
 * `readFrom`, where the replay's input starts, so that a live incident resolved during the warm-up is
 * still there as the home of its alerts. An incident document embeds its first 100 alerts, so membership
 * of larger incidents is judged on those. Throws LIVE_INDEX_NOT_FOUND when an alias does not exist.
 * Aborting `signal` (the CLI's Ctrl-C) cuts the request under way short and rejects with its reason.
 */
export async function readLiveRun(es: Client, prefix: string, range: { from: string; to: string; readFrom: string }, opts: { signal?: AbortSignal } = {}): Promise<IndexedRun> {
  const { signal } = opts
  try {
    return await read(es, prefix, range, signal)
  } catch (err) {
    // A request cut short by the abort fails with the client's RequestAbortedError: the abort's reason instead.
    signal?.throwIfAborted()
    throw err
  }
}

async function read(es: Client, prefix: string, range: { from: string; to: string; readFrom: string }, signal: AbortSignal | undefined): Promise<IndexedRun> {
  const n = indexNames(prefix)
  for (const alias of [n.incidents.alias, n.problems.alias]) {
    signal?.throwIfAborted()
    if (!(await es.indices.exists({ index: alias }, { signal }))) {
      throw new ReplayError('LIVE_INDEX_NOT_FOUND', `the live index ${alias} does not exist, so there is nothing to compare the replay with`)
    }
  }
  const incidents = await all<ComparedIncident>(es, n.incidents.alias, {
    bool: {
      filter: [{ range: { openedAt: { lt: range.to } } }],
      should: [{ bool: { must_not: { exists: { field: 'resolvedAt' } } } }, { range: { resolvedAt: { gte: range.readFrom } } }],
      minimum_should_match: 1,
    },
  }, incidentFields, signal)
  const problems = await all<ComparedProblem>(es, n.problems.alias, { bool: { filter: [{ range: { firstSeenAt: { lt: range.to } } }, { range: { lastSeenAt: { gte: range.from } } }] } }, problemFields, signal)
  return {
    incidents: incidents.map((i) => ({ ...i, resolvedAt: i.resolvedAt ?? null, alerts: (i.alerts ?? []).map((a) => ({ ...a, resolvedAt: a.resolvedAt ?? null, autoResolved: a.autoResolved ?? false })), reports: i.reports ?? [] })),
    problems,
  }
}
