import type { Client, estypes } from '@elastic/elasticsearch'

/** Terms per page of `termBuckets`. */
const TERM_PAGE = 1000

/** What `termBuckets` reads: the documents of `query` in `index` (an alert index pattern may match none: `lenient`). */
export interface BucketSource {
  index: string
  query: estypes.QueryDslQueryContainer
  /** Missing indices read as empty, as the alert indices' searches read them. */
  lenient?: boolean
}

/**
 * One bucket per value of `field` in the documents the source selects, with `aggs` in each: every value,
 * paged by a `composite` aggregation, in the order of the values. A `terms` aggregation of a fixed size
 * dropped the values with the fewest documents silently once more values than that had one (services and
 * problems until 2026-12-07, alertnames of the degraded rule until 2026-12-08).
 */
export async function termBuckets<B>(es: Client, source: BucketSource, field: string, aggs: Record<string, estypes.AggregationsAggregationContainer> = {}): Promise<(B & { term: string })[]> {
  const out: (B & { term: string })[] = []
  const lenient = source.lenient === true ? { ignore_unavailable: true, allow_no_indices: true } : {}
  let after: Record<string, string | number | null> | undefined
  for (;;) {
    const r = await es.search({
      index: source.index, size: 0, track_total_hits: false, query: source.query, ...lenient,
      aggs: { terms: { composite: { size: TERM_PAGE, sources: [{ term: { terms: { field } } }], ...(after ? { after } : {}) }, aggs } },
    })
    const agg = r.aggregations?.terms as estypes.AggregationsCompositeAggregate | undefined
    const buckets = (agg?.buckets ?? []) as (estypes.AggregationsCompositeBucket & B)[]
    for (const b of buckets) out.push({ ...b, term: String(b.key.term) })
    if (buckets.length < TERM_PAGE || !agg?.after_key) return out
    after = agg.after_key
  }
}
