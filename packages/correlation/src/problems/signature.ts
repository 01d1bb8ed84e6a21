import { hashId } from '../state.ts'
import type { ProblemSignature } from '../types.ts'

/**
 * The canonical form of a signature: JSON with the keys in one fixed order per kind, names sorted. Any
 * character may appear in a value (JSON escapes it), so two signatures never share a form.
 */
export function canonicalSignature(sig: ProblemSignature): string {
  switch (sig.kind) {
    case 'recurring':
      return JSON.stringify({ kind: sig.kind, environment: sig.environment, service: sig.service, alertNames: [...sig.alertNames].sort() })
    case 'flapping':
      return JSON.stringify({ kind: sig.kind, environment: sig.environment, source: sig.source, fingerprint: sig.fingerprint })
    case 'shared-cause':
      return JSON.stringify({ kind: sig.kind, environment: sig.environment, label: sig.label, value: sig.value })
    case 'forecast':
      return JSON.stringify({ kind: sig.kind, environment: sig.environment, service: sig.service })
  }
}

/** A problem's id: the same signature gives the same id in every engine, before and after restarts. */
export function problemIdOf(canonical: string): string {
  return hashId('prb', canonical)
}
