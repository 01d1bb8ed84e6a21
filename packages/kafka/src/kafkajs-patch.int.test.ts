import { expect, it } from 'vitest'
import { connectedAdmin, kafkaClient } from '@opsreview/testing'

// kafkajs 2.2.4 schedules its request queue's throttle check at `throttledUntil - now`, negative when there
// is no throttle (tulios/kafkajs#1751): Node 24 prints a TimeoutNegativeWarning to stderr, a line that is
// not JSON in every service's log, on every connection. .patches/ clamps it to 0 until kafkajs ships the fix.
it('a kafkajs client talking to the real broker makes Node print no TimeoutNegativeWarning', async () => {
  const warnings: Error[] = []
  const onWarning = (w: Error) => { warnings.push(w) }
  process.on('warning', onWarning)
  try {
    const admin = await connectedAdmin(kafkaClient())
    await admin.listTopics()
    await admin.fetchTopicMetadata()
    await admin.disconnect()
    // Warnings are emitted on a later tick than the timer that causes them.
    await new Promise((resolve) => setTimeout(resolve, 50))
  } finally {
    process.off('warning', onWarning)
  }
  expect(warnings.filter((w) => w.name === 'TimeoutNegativeWarning').map((w) => w.message)).toEqual([])
})
