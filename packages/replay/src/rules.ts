import { loadGroupingRulesFile, relabel, type GroupingRules } from '@opsreview/grouping'
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
 * A grouping rules file for the replay. Kept apart from the rest of the package (and imported only when
 * `--config` is given) so a replay with the live grouping needs nothing of @opsreview/grouping.
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
