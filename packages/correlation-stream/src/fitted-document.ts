import type { Incident, Problem } from '@opsreview/correlation/types'
import { DOCUMENT_MAX_MESSAGE_BYTES } from '@opsreview/kafka/topics'

/**
 * The largest document value the correlator writes: the incidents and problems topics take records of
 * 8 MiB, and a record batch adds its own headers and the key.
 */
export const MAX_DOCUMENT_BYTES = DOCUMENT_MAX_MESSAGE_BYTES - 64 * 1024

/** A document's lists, and which end of each a shortened document keeps. */
type Lists = readonly { field: string; keep: 'first' | 'last' }[]

// The engine bounds the members, reports and notes a document holds by count, not by size, and an
// incident's services and problem ids not at all (an incident key shared by thousands of services).
const incidentLists: Lists = [
  { field: 'alerts', keep: 'first' }, { field: 'services', keep: 'first' }, { field: 'reports', keep: 'last' },
  { field: 'notes', keep: 'last' }, { field: 'problemIds', keep: 'last' },
]
const problemLists: Lists = [{ field: 'incidentIds', keep: 'last' }, { field: 'services', keep: 'first' }, { field: 'notes', keep: 'last' }]

/**
 * The JSON of an incident or problem document, its lists shortened until it fits in `maxBytes`: refused by
 * the topic, a document stopped its partition for good, since a restart replays the same inputs to the same
 * document. The list taking the most bytes is halved, again and again; the counts (`alertCount`,
 * `incidentCount`) still count everything. `shortened` says whether any list was cut.
 */
export function fittedDocument(kind: 'incident' | 'problem', doc: Incident | Problem, maxBytes = MAX_DOCUMENT_BYTES): { json: string; shortened: boolean } {
  let json = JSON.stringify(doc)
  // A UTF-16 code unit is at most 3 bytes of UTF-8: nearly every document fits without counting its bytes.
  if (json.length * 3 <= maxBytes || Buffer.byteLength(json) <= maxBytes) return { json, shortened: false }
  const lists = kind === 'incident' ? incidentLists : problemLists
  const cur: Record<string, unknown> = { ...doc }
  for (;;) {
    let widest: (typeof lists)[number] | undefined
    let widestBytes = 0
    for (const list of lists) {
      const value = cur[list.field]
      if (!Array.isArray(value) || value.length <= 1) continue
      const bytes = Buffer.byteLength(JSON.stringify(value))
      if (bytes > widestBytes) { widest = list; widestBytes = bytes }
    }
    // Every list down to one entry: the rest of a document is bounded by the schemas, far below the limit.
    if (!widest) return { json, shortened: true }
    const value = cur[widest.field] as unknown[]
    const n = Math.ceil(value.length / 2)
    cur[widest.field] = widest.keep === 'first' ? value.slice(0, n) : value.slice(-n)
    json = JSON.stringify(cur)
    if (Buffer.byteLength(json) <= maxBytes) return { json, shortened: true }
  }
}
