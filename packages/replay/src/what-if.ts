import type { Client } from '@elastic/elasticsearch'
import type { DegradedRule } from '@opsreview/review/degraded'
import { compareRuns } from './compare.ts'
import { writeDataset } from './dataset.ts'
import { elasticsearchUnavailable } from './errors.ts'
import { readLiveRun } from './live.ts'
import { coverageWarnings, type ReplayReport } from './report.ts'
import { readFromOf, runReplay, type ReplayOptions } from './replay.ts'

export interface WhatIfOptions extends ReplayOptions {
  es: Client
  /** The live index prefix: live documents are read under it, a dataset is written beside it. */
  indexPrefix: string
  /** Also write the replayed incidents and problems to this scratch dataset. */
  dataset?: string
  rules?: string
  /** The settings to show in the report (what differs from the engine's defaults). */
  settings?: Record<string, unknown>
  /** Which critical alerts are slowness, not downtime, as the review reads them (default: the review's default rule). */
  degraded?: DegradedRule
}

/**
 * `opsreview replay`: reads the live incidents and problems of the range, runs the engine over the retained
 * log with another configuration, compares them, and, when asked, writes the replay to a scratch dataset.
 * Reads live topics and indices only; the dataset is the only thing it writes. Aborting `signal` stops it
 * where it is, with its reason, and deletes a dataset it is still writing (writeDataset).
 */
export async function whatIf(o: WhatIfOptions): Promise<ReplayReport> {
  const range = { from: new Date(o.fromMs).toISOString(), to: new Date(o.toMs).toISOString() }
  // Live incidents are read from where the replay's input starts, so both sides hold the same span.
  const spans = { ...range, readFrom: new Date(readFromOf(o)).toISOString() }
  // Live first: missing live indices or an Elasticsearch that does not answer fail before the long read of the log.
  const live = await readLiveRun(o.es, o.indexPrefix, spans, { signal: o.signal }).catch((err: unknown) => { throw elasticsearchUnavailable(err) })
  o.signal?.throwIfAborted()
  const replay = await runReplay(o)
  o.signal?.throwIfAborted()
  const comparison = compareRuns({ ...live, changes: replay.changes.live }, { ...replay, changes: replay.changes.replay }, spans, o.degraded)
  let dataset: ReplayReport['dataset'] = null
  if (o.dataset !== undefined) {
    // What the comparison looked at: incidents touching the range, problems seen in it.
    const incidents = replay.incidents.filter((i) => Date.parse(i.openedAt) < o.toMs && (i.resolvedAt === null || Date.parse(i.resolvedAt) >= o.fromMs))
    const problems = replay.problems.filter((p) => Date.parse(p.firstSeenAt) < o.toMs && Date.parse(p.lastSeenAt) >= o.fromMs)
    dataset = await writeDataset(o.es, o.indexPrefix, o.dataset, incidents, problems, { signal: o.signal })
  }
  return { range, rules: o.rules ?? null, settings: o.settings ?? {}, replay: replay.stats, comparison, dataset, warnings: coverageWarnings(o.fromMs, replay.stats.cut, replay.stats.readFrom) }
}
