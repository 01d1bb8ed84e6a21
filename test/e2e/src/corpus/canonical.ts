/**
 * The corpus's requests as the receiver turns them into canonical events: the receiver's own intake
 * (validation and mapping), with the receipt time the caller gives. For running the pure engine over the
 * corpus without HTTP.
 */
// test/e2e does not depend on @opsreview/ingest (yet): its intake is read from source.
import { defaultIngestOptions } from '@opsreview/ingest/event'
import { intakeAlertmanager, intakePingdom, intakeReport } from '@opsreview/ingest/intake'
import type { AlertEvent } from '@opsreview/schemas'
import type { Delivery } from './corpus.ts'

/** Each delivery's events in the order the receiver publishes them; throws if the receiver would refuse any. */
export function canonicalEvents(deliveries: readonly Delivery[], receivedAt: (d: Delivery) => number): AlertEvent[] {
  const out: AlertEvent[] = []
  for (const d of deliveries) {
    const ctx = { receivedAt: new Date(receivedAt(d)), options: defaultIngestOptions }
    if (d.sender === 'alertmanager') {
      const intake = intakeAlertmanager(d.body, ctx)
      if (!intake.ok || intake.rejected.length > 0) throw new Error(`the receiver refuses ${JSON.stringify(d.body).slice(0, 200)}: ${JSON.stringify(intake.ok ? intake.rejected : intake.errors)}`)
      out.push(...intake.accepted.map((a) => a.event))
    } else {
      const intake = d.sender === 'pingdom' ? intakePingdom(d.body, ctx) : intakeReport(d.body, ctx)
      if (!intake.ok) throw new Error(`the receiver refuses ${JSON.stringify(d.body).slice(0, 200)}: ${JSON.stringify(intake.errors)}`)
      out.push(intake.event)
    }
  }
  return out
}
