import { readFileSync } from 'node:fs'
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

  it('exports every receiver metric that opsreview\'s own alert rules watch', async () => {
    const rules = readFileSync(new URL('../../../infra/prometheus/opsreview-rules.yml', import.meta.url), 'utf8')
    const watched = [...new Set(rules.match(/opsreview_receiver_[a-z_]+/g))]
    expect(watched).toContain('opsreview_receiver_spool_oldest_age_seconds')
    const r = fakeReceiver()
    r.spool.oldestAgeMs = 90_000
    const text = await (await fetch(`${await serve(r.app)}/metrics`)).text()
    // A labelled counter shows no sample before its first count: its TYPE line says it is exported.
    for (const name of watched) expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'))
    expect(text).toMatch(/^opsreview_receiver_spool_oldest_age_seconds 90$/m)
  })
})
