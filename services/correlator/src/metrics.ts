import { collectDefaultMetrics, Registry } from 'prom-client'

/** The correlator's registry, with prom-client's process metrics (CPU, memory, event loop, GC) on it. */
export function createCorrelatorRegistry(): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return registry
}
