import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { fieldTable, withFieldTables } from './field-docs.ts'

const docPath = fileURLToPath(new URL('../../../docs/incident-and-problem.md', import.meta.url))

describe('docs/incident-and-problem.md', () => {
  it('has the field tables of the current schemas (after a schema change: node packages/schemas/scripts/write-field-docs.ts)', () => {
    const doc = readFileSync(docPath, 'utf8')
    expect(doc).toBe(withFieldTables(doc))
  })

  it('lists every field of each record, nested ones by path, with its meaning', () => {
    const incident = fieldTable('incident')
    for (const field of ['id', 'resolvedBy', 'alerts[].flapCount', 'reports[].kind', 'postmortem.scheduledFor', 'notes[].text', 'version']) {
      expect(incident).toMatch(new RegExp(`^\\| \`${field.replace(/[[\].]/g, '\\$&')}\` \\| [^|]+ \\| [^|\\s]`, 'm'))
    }
    expect(fieldTable('problem')).toContain('| `status` | `candidate`, `confirmed`, `dismissed`, `resolved` | The review\'s decision')
  })
})
