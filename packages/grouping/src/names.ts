// What may become a service or an environment: the review's filters refuse control characters (\p{Cc}) in
// those, and a blank name cannot be typed at all, so an alert named so could never be found by it. And the
// canonical event takes a name of at most so many code points: an event named longer is refused, and its
// alert dead-lettered instead of correlated.
import { alertEventCaps, withinCodePoints } from '@opsreview/schemas'

// \p{Cc} is exactly C0, DEL and C1 (U+0000-U+001F, U+007F-U+009F), the set the filters refuse.
const CONTROL = /\p{Cc}/u
// `\s` is what String#trim removes: a value of only these is blank, as Pingdom's `service:  ` tag.
const VISIBLE = /\S/

/** The most code points of a service's and of an environment's name (schemas/alert.v1.json). */
export const MAX_SERVICE_CHARS = alertEventCaps.serviceChars
export const MAX_ENVIRONMENT_CHARS = alertEventCaps.environmentChars

/**
 * True for a value that can name a service or an environment: not blank, no control character, at most
 * `maxChars` code points. The same rule as schemas/incident-patch.v1.json's `printable` (names.test.ts holds
 * them together) and the event's caps, which refuse such a Pingdom check name or tag with a 400; a label is
 * skipped instead, since refusing an Alertmanager alert for one label would lose the alert.
 */
export function isUsableName(value: string, maxChars: number): boolean {
  return !CONTROL.test(value) && VISIBLE.test(value) && withinCodePoints(value, maxChars)
}
