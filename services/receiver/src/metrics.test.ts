import { describe, expect, it } from 'vitest'
import { serve } from '@opsreview/testing'
import { fakeReceiver } from './test-fakes.ts'

describe("the receiver's /metrics", () => {
  it("serves prom-client's process metrics beside its own, for each app in the process", async () => {
    for (const r of [fakeReceiver(), fakeReceiver()]) {
      const text = await (await fetch(`${await serve(r.app)}/metrics`)).text()
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m)
      expect(text).toMatch(/^nodejs_heap_size_total_bytes \d/m)
      expect(text).toContain('# TYPE opsreview_receiver_requests_total counter')
    }
  })
})
