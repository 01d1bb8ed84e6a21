// Rewrites the field tables of docs/incident-and-problem.md from the schemas' descriptions (after a schema change).
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { withFieldTables } from '../src/field-docs.ts'

const doc = fileURLToPath(new URL('../../../docs/incident-and-problem.md', import.meta.url))
await writeFile(doc, withFieldTables(await readFile(doc, 'utf8')))
