import { describe, expect, it } from 'vitest'
import { createCorrelatorRegistry } from './metrics.ts'

describe("the correlator's registry", () => {
  it("carries prom-client's process metrics, on each registry apart (two in one process do not collide)", async () => {
    const [a, b] = [createCorrelatorRegistry(), createCorrelatorRegistry()]
    for (const r of [a, b]) {
      const text = await r.metrics()
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m)
      expect(text).toMatch(/^nodejs_heap_size_total_bytes \d/m)
    }
  })
})
