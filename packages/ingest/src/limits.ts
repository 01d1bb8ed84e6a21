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
 * (alertmanager.ts). alert.v1.json leaves `origin.groupKey` unbounded, so events already on the topics
 * with longer keys stay valid; this bound keeps each event, and the correlator's notification groups that
 * hold the key, small whatever the route groups by.
 */
export const MAX_GROUP_KEY_CHARS = 1024
