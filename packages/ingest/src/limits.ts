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
