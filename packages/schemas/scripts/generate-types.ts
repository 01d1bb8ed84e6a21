// Writes the TypeScript types of the records the correlator publishes (schemas/incident.v1.json,
// problem.v1.json) to src/generated/, so the JSON Schema is their only source. Runs on `pnpm install`
// (postinstall) and `pnpm generate`; the output is not in git.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { compile, type JSONSchema } from 'json-schema-to-typescript'

const schemasDir = fileURLToPath(new URL('../../../schemas/', import.meta.url))
const outDir = fileURLToPath(new URL('../src/generated/', import.meta.url))

/** The schemas whose types are generated: `schemas/<name>.json` → `src/generated/<name>.ts`. */
export const generated = ['incident.v1', 'problem.v1'] as const

const banner = (name: string) =>
  `// Generated from schemas/${name}.json by packages/schemas/scripts/generate-types.ts (pnpm generate).\n// Do not edit: change the schema, then run pnpm generate.`

export async function generateTypes(name: string): Promise<string> {
  const schema = JSON.parse(await readFile(`${schemasDir}${name}.json`, 'utf8')) as JSONSchema
  return compile(schema, schema.title ?? name, {
    // Relative $refs (alert.v1.json#/definitions/...) resolve against schemas/, as ajv resolves them against the $id.
    cwd: schemasDir,
    bannerComment: banner(name),
    // Types named by a definition's title that nothing references (ProblemSignature) are emitted too.
    unreachableDefinitions: true,
    additionalProperties: false,
    strictIndexSignatures: true,
    // minItems would make `services` a tuple type ([string, ...string[]]) that no copied array fits; ajv checks the bounds.
    ignoreMinAndMaxItems: true,
    format: true,
  })
}

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true })
  for (const name of generated) await writeFile(`${outDir}${name}.ts`, await generateTypes(name))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
