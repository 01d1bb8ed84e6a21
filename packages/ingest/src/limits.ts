import { alertEventCaps } from '@opsreview/schemas'

/**
 * The caps JSON Schema cannot state; the per-field ones live in schemas/alert.v1.json's definitions.
 * docs/receiver-validation.md explains each bound.
 */

/** A whole canonical event, serialised: real ones are 1–5 KiB, Kafka's default limit is 1 MiB. */
export const MAX_EVENT_BYTES = 128 * 1024

/** alert.v1.json's `title` and `description` caps, for cutting derived texts to fit them. */
export const MAX_TITLE_CHARS = alertEventCaps.titleChars
export const MAX_DESCRIPTION_CHARS = alertEventCaps.textChars

/** alert.v1.json's cap on a link's `href`: a longer link is left out of the event, not the alert refused. */
export const MAX_LINK_CHARS = alertEventCaps.urlChars

/**
 * The longest Alertmanager group key an event carries as sent; a longer one is carried as its digest
 * (alertmanager.ts), which keeps each event, and the correlator's notification groups that hold the key,
 * small whatever the route groups by. The bound the webhook schema had until 2026-12-06: every key taken
 * before keeps its form, so a group's alerts from before an upgrade and after it still meet in the
 * correlator (a lower bound split them: the incident held the raw key, the next alerts the digest).
 */
export const MAX_GROUP_KEY_CHARS = 8192

/**
 * Most alerts one Alertmanager notification may hold, checked before the schema: ajv lists an error per
 * failing item, and 16 MiB of one-byte alerts (`[1,1,…]`) made 8 million of them (3.6 GB of heap). A real
 * group this large is beyond anything else here too: the publisher queues at most 50,000 events.
 */
export const MAX_ALERTS_PER_NOTIFICATION = 50_000

/**
 * Errors listed, in all, for a notification's refused alerts; past them each further alert is only checked
 * to its first error. As many as the receiver lists: 20 for each of the 1,000 alerts it dead-letters one by one.
 */
export const MAX_LISTED_ALERT_ERRORS = 20_000
