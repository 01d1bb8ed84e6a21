import { defaultGroupingRules, loadGroupingRulesFile, relabel, type GroupingRules } from '@opsreview/grouping'
import type { AlertEvent } from '@opsreview/correlation/types'
import { ReplayError } from './errors.ts'

export interface LoadedRules {
  file: string
  /** Re-derives an event's service and environment under the rules. */
  relabel: (event: AlertEvent) => AlertEvent
  /** What the rules set in the engine's configuration. */
  engineConfig: { grouping: GroupingRules }
}

/**
 * A grouping rules file for the replay (`--config`, or the live `OPSREVIEW_GROUPING_RULES`). Kept apart from
 * the rest of the package, which needs nothing of @opsreview/grouping.
 */
export function loadRules(file: string): LoadedRules {
  let rules: GroupingRules
  try {
    rules = loadGroupingRulesFile(file)
  } catch (err) {
    // The grouping package's message already names the file and every problem in it.
    throw new ReplayError('RULES_INVALID', (err as Error).message, { cause: err })
  }
  return { file, relabel: (event) => relabel(event, rules), engineConfig: { grouping: rules } }
}

/**
 * How a replay under the built-in default rules (no `--config`, no `OPSREVIEW_GROUPING_RULES`) names events:
 * by today's rule, as under a file holding the same rules. An event of the log named under an older rule (a
 * `service` label holding a control character became the service until 2026-12-05) gets its usable name
 * (until 2026-12-07 it kept the old one under the defaults alone, and a file equal to them replayed otherwise).
 */
export const relabelUnderDefaults = (event: AlertEvent): AlertEvent => relabel(event, defaultGroupingRules)
