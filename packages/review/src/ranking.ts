import type { estypes } from '@elastic/elasticsearch'
import { SEVERITIES } from '@opsreview/schemas'

/**
 * The query, each document scored by the first of `ranks` it matches (the first ranks highest, a document
 * matching none scores 1, lowest), for Elasticsearch to sort by `_score`: a list it cuts at N must be ordered
 * before the cut, or newer documents of a lower rank push out one of a higher. A function_score of weights:
 * the local Elasticsearch has no scripting, and indices written before need no new field. It must wrap the
 * whole query: inside a filter context every score would be 0.
 */
export function rankedBy(query: estypes.QueryDslQueryContainer, ranks: readonly estypes.QueryDslQueryContainer[]): estypes.QueryDslQueryContainer {
  return { function_score: { query, score_mode: 'first', boost_mode: 'replace', functions: ranks.map((filter, i) => ({ filter, weight: ranks.length + 1 - i })) } }
}

/** Critical, warning, info, then no known severity: by rank, not by word (alphabetically warning comes before critical). */
export const rankedBySeverity = (query: estypes.QueryDslQueryContainer): estypes.QueryDslQueryContainer =>
  rankedBy(query, SEVERITIES.map((severity) => ({ term: { severity } })))
