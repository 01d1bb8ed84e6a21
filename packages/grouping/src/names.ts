// What may become a service or an environment: the review's filters refuse control characters (\p{Cc}) in
// those, and a blank name cannot be typed at all, so an alert named so could never be found by it.

// \p{Cc} is exactly C0, DEL and C1 (U+0000-U+001F, U+007F-U+009F), the set the filters refuse.
const CONTROL = /\p{Cc}/u
// `\s` is what String#trim removes: a value of only these is blank, as Pingdom's `service:  ` tag.
const VISIBLE = /\S/

/**
 * True for a value that can name a service or an environment: not blank, no control character. The same
 * rule as schemas/incident-patch.v1.json's `printable` (names.test.ts holds them together), which refuses
 * such a Pingdom check name or tag with a 400; a label is skipped instead, since refusing an Alertmanager
 * alert for one label would lose the alert.
 */
export function isUsableName(value: string): boolean {
  return !CONTROL.test(value) && VISIBLE.test(value)
}
