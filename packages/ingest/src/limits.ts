import { alertEventCaps, alertmanagerEnvelopeCaps } from '@opsreview/schemas'

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
 * (alertmanager.ts). Every event copies the key: at the schema's old cap of 8,192, a 4 MB notification of
 * 50,000 small alerts under a key of control characters (six bytes each, escaped) made 2.4 GB of events.
 * The price, once (docs/receiving.md): a group whose key is 1,025 to 8,192 characters long carried it as
 * sent before 2026-12-06, and its alerts from before and after an upgrade meet only by their grouping rules.
 */
export const MAX_GROUP_KEY_CHARS = 1024

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

/** alertmanager-webhook.v4.json's cap on the notification's groupLabels, commonLabels and commonAnnotations. */
export const MAX_ENVELOPE_MAP_ENTRIES = alertmanagerEnvelopeCaps.mapEntries
