// Reading a rules file: JSON or YAML, checked against schemas/grouping-rules.v1.json, regexes compiled,
// every problem reported at once with its JSON Pointer (and, in YAML, its line).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml'
import { escapePointer, SOURCES, validateGroupingRules, type FieldError } from '@opsreview/schemas'
import { compileGroupingRules, compileRegex, defaultGroupingRules, LABEL_PREFIX, type GroupingRules, type GroupingRulesFile } from './rules.ts'

/** A failing field of a rules file; `line` (1-based) when the file is YAML and the place is known. */
export interface GroupingRulesError extends FieldError {
  line?: number
}

export type GroupingRulesParse = { ok: true; rules: GroupingRules } | { ok: false; errors: GroupingRulesError[] }

export type GroupingRulesFormat = 'json' | 'yaml'

/** The format a file name says: `.json`, `.yaml` or `.yml`; undefined for anything else. */
export function formatOfPath(file: string): GroupingRulesFormat | undefined {
  const ext = path.extname(file).toLowerCase()
  return ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined
}

const unescapePointer = (s: string) => s.replaceAll('~1', '/').replaceAll('~0', '~')

/** Messages an operator can act on, in place of ajv's words for the if/then/else shapes. `file`: the document they are about. */
function clarify(errors: readonly FieldError[], file: unknown): FieldError[] {
  const out: FieldError[] = []
  // A value too short or too long gets that said alone: the pattern's message beside it reads as a second fault.
  const lengthFaults = new Set(errors.filter((e) => /^(name )?must NOT have (fewer|more) than \d+ characters$/.test(e.message)).map((e) => e.path))
  for (const e of errors) {
    if (lengthFaults.has(e.path) && /^must not (be blank|start or end with white space)/.test(e.message)) continue
    if (/^must match "(then|else)" schema$/.test(e.message)) continue
    let message = e.message
    // An exact service or environment to match.
    const value = /\/match\/(service|environment)$/.exec(e.path)?.[1]
    if (message === 'must NOT have additional properties') message = 'is not a known key'
    else if (/\/by\/\d+$|\/groupBy\/default\/\d+$/.test(e.path) && message.startsWith('must match pattern')) {
      const field = at(file, ...e.path.slice(1).split('/').map(unescapePointer))
      message = typeof field === 'string' && field.startsWith(LABEL_PREFIX) && field.length > LABEL_PREFIX.length
        ? 'must be labels.<label name>, the name with no white space at either end and no control characters: in a rules file that is a typo'
        : 'must be service, environment, source, fingerprint or labels.<label name>'
    } else if (/\/match\/labels\/[^/]+$/.test(e.path) && message === 'must be object') {
      message = 'must be a string (quote numbers in YAML), { regex: "..." } or { present: true|false }'
    } else if (/\/match\/(source|service|environment)$/.test(e.path) && message === 'must be object') {
      message = 'must be a string (quote numbers in YAML) or { regex: "..." }'
    } else if (value && message === 'must NOT have fewer than 1 characters') {
      message = 'is never empty (every alert has a service and an environment): match a missing label with labels: { <name>: "" }'
    } else if (value && message === 'must not be blank or hold control characters') {
      message = 'must not be blank or hold control characters: no alert\'s service or environment does (the receiver passes over a label value that does), so it would match no alert'
    } else if (value && /^must NOT have more than \d+ characters$/.test(message)) {
      message = `is longer than an alert's ${value} can be (${/\d+/.exec(message)![0]} code points): it would match no alert`
    } else if (e.path === '/incidentKeyLabel' && message === 'must be null') {
      message = 'must be a label name or null'
    }
    out.push({ path: e.path, message })
  }
  return out
}

/** Reads a nested value of a document of any shape: undefined wherever the shape is not the schema's. */
function at(value: unknown, ...keys: (string | number)[]): unknown {
  let v = value
  for (const k of keys) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return undefined
    v = (v as Record<string | number, unknown>)[k]
  }
  return v
}

/**
 * Every regex of the document that does not compile, named by its path. Reads the document defensively,
 * so regexes are checked alongside the schema's errors and one round fixes the file.
 */
function regexErrors(file: unknown): FieldError[] {
  const errors: FieldError[] = []
  const check = (pointer: string, spec: unknown, values?: readonly string[]) => {
    const regex = at(spec, 'regex')
    if (typeof regex !== 'string') return
    let test: (value: string) => boolean
    try {
      test = compileRegex(regex)
    } catch (err) {
      errors.push({ path: `${pointer}/regex`, message: `is not a valid regex: ${(err as Error).message}` })
      return
    }
    // A misspelt source (`alertmanger`) is a rule that never applies, and nothing else would say so.
    if (values && !values.some(test)) errors.push({ path: `${pointer}/regex`, message: `matches none of ${values.join(', ')}: the rule would apply to no alert` })
  }
  const checkLabels = (pointer: string, labels: unknown) => {
    if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return
    for (const [name, spec] of Object.entries(labels)) check(`${pointer}/labels/${escapePointer(name)}`, spec)
  }
  const rulesOf = (section: string) => {
    const rules = at(file, section, 'rules')
    return Array.isArray(rules) ? rules : []
  }
  rulesOf('service').forEach((r, i) => checkLabels(`/service/rules/${i}/match`, at(r, 'match', 'labels')))
  rulesOf('groupBy').forEach((r, i) => {
    const match = `/groupBy/rules/${i}/match`
    check(`${match}/source`, at(r, 'match', 'source'), SOURCES)
    for (const field of ['service', 'environment']) check(`${match}/${field}`, at(r, 'match', field))
    checkLabels(match, at(r, 'match', 'labels'))
  })
  return errors
}

/** The 1-based line of the YAML node at a JSON Pointer (a map entry's key line), or of its nearest parent. */
function lineOf(doc: Document, lines: LineCounter, pointer: string): number | undefined {
  const segments = pointer === '/' || pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer)
  let node: unknown = doc.contents
  let at: Node | null = doc.contents as Node | null
  for (const seg of segments) {
    if (isMap(node)) {
      // The last of a key given twice: the one JSON.parse and toJS keep, whose value the errors are about.
      const pair = node.items.findLast((p) => keyText(doc, p.key) === seg)
      if (!pair) break
      at = (pair.key as Node | null) ?? at
      node = pair.value
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)]
      if (!/^\d+$/.test(seg) || item === undefined) break
      at = item as Node
      node = item
    } else break
  }
  const offset = at?.range?.[0]
  return offset === undefined ? undefined : lines.linePos(offset).line
}

/**
 * A map key as the parsed value names it (`~` is "", as toJS makes it), an alias's by what it stands for;
 * undefined for a YAML 1.1 merge key (`<<`), which merges and names nothing, and for a key that is not a
 * scalar (`? [a]`), which no rules file has (the schema names it).
 */
function keyText(doc: Document, key: unknown): string | undefined {
  const node = isAlias(key) ? key.resolve(doc) : key
  if (!isScalar(node) || typeof node.value === 'symbol') return undefined
  return node.value === null ? '' : String(node.value)
}

/** Every key given again in its object, by JSON Pointer and line: JSON.parse and YAML's toJS keep the last. */
function duplicateKeys(doc: Document, lines: LineCounter): GroupingRulesError[] {
  const errors: GroupingRulesError[] = []
  const walk = (node: unknown, pointer: string) => {
    if (isMap(node)) {
      const seen = new Set<string>()
      for (const pair of node.items) {
        const key = keyText(doc, pair.key)
        if (key === undefined) continue
        const path = `${pointer}/${escapePointer(key)}`
        if (seen.has(key)) {
          const offset = (pair.key as Node | null)?.range?.[0]
          errors.push(withLine({ path, message: 'is a duplicate key' }, offset === undefined ? undefined : lines.linePos(offset).line))
        }
        seen.add(key)
        walk(pair.value, path)
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => walk(item, `${pointer}/${i}`))
  }
  walk(doc.contents, '')
  return errors
}

/**
 * Parses and checks a rules document. Unknown keys, wrong types, bad `by` fields and regexes that do not
 * compile are all reported, each with its JSON Pointer and its line.
 */
export function parseGroupingRules(text: string, format: GroupingRulesFormat): GroupingRulesParse {
  let value: unknown
  let located: (pointer: string) => number | undefined
  // Listed with the rest, not instead of it: one round of fixes makes the file good.
  let duplicates: GroupingRulesError[] = []
  if (format === 'json') {
    // Editors on Windows save UTF-8 with a byte order mark, which JSON.parse refuses as an invisible token.
    const body = text.startsWith('\uFEFF') ? text.slice(1) : text
    try {
      value = JSON.parse(body)
    } catch (err) {
      return { ok: false, errors: [{ path: '/', message: `is not JSON: ${(err as Error).message}` }] }
    }
    // JSON is YAML too: the YAML parser's nodes show the keys JSON.parse let the last of win, and give errors their lines.
    const lines = new LineCounter()
    const doc = parseDocument(body, { lineCounter: lines, uniqueKeys: false })
    if (doc.errors.length === 0) duplicates = duplicateKeys(doc, lines)
    located = (pointer) => (doc.errors.length > 0 ? undefined : lineOf(doc, lines, pointer))
  } else {
    const lines = new LineCounter()
    // Duplicate keys found as in JSON (by their text: `1` and `"1"` are one key), not by the parser, whose
    // error named neither the key nor the other faults of the file.
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false })
    if (doc.errors.length > 0) {
      return {
        ok: false,
        errors: doc.errors.map((e) => ({ path: '/', message: `is not YAML: ${e.message.split('\n')[0]}`, line: lines.linePos(e.pos[0]).line })),
      }
    }
    duplicates = duplicateKeys(doc, lines)
    try {
      value = doc.toJS({ maxAliasCount: 100 })
    } catch (err) {
      const message = (err as Error).message
      // The guard against alias bombs names no place: the first alias is where to look.
      return { ok: false, errors: [withLine({ path: '/', message: `is not usable YAML: ${message}` }, /alias/i.test(message) ? firstAliasLine(doc, lines) : undefined)] }
    }
    located = (pointer) => lineOf(doc, lines, pointer)
  }
  // The shared ajv fills in schema defaults; the document stays the caller's as written.
  const checked = validateGroupingRules(structuredClone(value))
  const errors: GroupingRulesError[] = [...(checked.ok ? [] : clarify(checked.errors, value)), ...regexErrors(value)].map((e) => withLine(e, located(e.path)))
  if (duplicates.length > 0 || errors.length > 0) {
    // In the file's order, as an editor shows it.
    return { ok: false, errors: [...duplicates, ...errors].sort((a, b) => (a.line ?? 0) - (b.line ?? 0)) }
  }
  return { ok: true, rules: compileGroupingRules(value as GroupingRulesFile) }
}

/** The 1-based line of the document's first alias (`*name`), if it has one. */
function firstAliasLine(doc: Document, lines: LineCounter): number | undefined {
  let offset: number | undefined
  visit(doc, { Alias(_key, node) { offset = node.range?.[0]; return visit.BREAK } })
  return offset === undefined ? undefined : lines.linePos(offset).line
}

function withLine(e: GroupingRulesError, line: number | undefined): GroupingRulesError {
  return line === undefined ? e : { ...e, line }
}

/** One error per line, for logs and for the services' start-up message. */
export function formatGroupingErrors(file: string, errors: readonly GroupingRulesError[]): string {
  const items = errors.map((e) => `${file}${e.line === undefined ? '' : `:${e.line}`} ${e.path}: ${e.message}`)
  return `${errors.length} problem(s) in the grouping rules:\n    ${items.join('\n    ')}`
}

/** Reads, checks and compiles a rules file; throws an Error listing every problem, with the file's path. */
export function loadGroupingRulesFile(file: string): GroupingRules {
  const format = formatOfPath(file)
  if (!format) throw new Error(`${file}: a grouping rules file must end in .json, .yaml or .yml`)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new Error(`${file}: cannot read the grouping rules: ${(err as Error).message}`, { cause: err })
  }
  const r = parseGroupingRules(text, format)
  if (!r.ok) throw new Error(formatGroupingErrors(file, r.errors))
  return r.rules
}

/**
 * The `OPSREVIEW_GROUPING_RULES` setting, shaped as an @opsreview/config field's parse: empty is the
 * defaults, else the file at that path, or every problem with it.
 */
export function parseGroupingRulesSetting(raw: string | undefined): { ok: true; value: GroupingRules } | { ok: false; error: string } {
  const file = raw?.trim()
  if (!file) return { ok: true, value: defaultGroupingRules }
  try {
    return { ok: true, value: loadGroupingRulesFile(file) }
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  }
}
