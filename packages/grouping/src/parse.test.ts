import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '@opsreview/testing'
import { defaultGroupingRules, loadGroupingRulesFile, parseGroupingRules, parseGroupingRulesSetting, serviceOf } from './index.ts'

const yamlFile = `version: 1
service:
  labels: [service, app]
environment:
  labels: [env]
  default: prod
incidentKeyLabel: ticket
groupBy:
  rules:
    - name: crash loops per namespace and container
      match:
        source: alertmanager
        labels:
          alertname: { regex: "KubePod.*" }
          namespace: { present: true }
      by: [environment, labels.namespace, labels.container]
  default: [service, environment]
`

function tmpFile(name: string, text: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'grouping-'))
  const file = path.join(dir, name)
  writeFileSync(file, text)
  return file
}

describe('parseGroupingRules', () => {
  it('reads a YAML file and a JSON file of the same rules alike', () => {
    const y = parseGroupingRules(yamlFile, 'yaml')
    expect(y.ok).toBe(true)
    if (!y.ok) return
    expect(y.rules.service.labels).toEqual(['service', 'app'])
    expect(y.rules.environment).toEqual({ labels: ['env'], default: 'prod' })
    expect(y.rules.incidentKeyLabel).toBe('ticket')
    expect(y.rules.groupBy.rules.map((r) => r.name)).toEqual(['crash loops per namespace and container'])
    expect(y.rules.groupBy.byServiceAndEnvironment).toBe(false)
    const j = parseGroupingRules(JSON.stringify(y.rules.document), 'json')
    expect(j.ok && j.rules.document).toEqual(y.rules.document)
  })

  it('keeps the defaults for every key a file leaves out', () => {
    const r = parseGroupingRules('{"version":1,"environment":{"default":"prod"}}', 'json')
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.rules.environment).toEqual({ labels: defaultGroupingRules.environment.labels, default: 'prod' })
    expect(r.rules.service.labels).toEqual(defaultGroupingRules.service.labels)
    expect(r.rules.service.rules).toHaveLength(defaultGroupingRules.service.rules.length)
    expect(r.rules.incidentKeyLabel).toBe('incident_key')
    expect(r.rules.groupBy.byServiceAndEnvironment).toBe(true)
    expect(r.rules.groupBy.joinAlertmanagerGroups).toBe(true)
  })

  it('turns the incident-key override off with null, and the exporter rules off with an empty list', () => {
    const r = parseGroupingRules('{"version":1,"incidentKeyLabel":null,"service":{"rules":[]}}', 'json')
    expect(r.ok && r.rules.incidentKeyLabel).toBeNull()
    expect(r.ok && serviceOf({ job: 'kube-state-metrics', service: 'ksm', container: 'api' }, r.rules)).toBe('ksm')
  })

  it('lists every failing field with its JSON Pointer, unknown keys included', () => {
    const r = parseGroupingRules(JSON.stringify({
      version: 2,
      servcie: {},
      environment: { labels: 'env', default: '' },
      incidentKeyLabel: 7,
      groupBy: {
        rules: [
          { match: { source: 'nagios', labels: { team: 5, tier: { regex: 'a', present: true } } }, by: ['labels'] },
          { match: { colour: 'red' }, by: [] },
        ],
        default: ['service', 'host'],
        joinAlertmanagerGroups: 'no',
      },
    }), 'json')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors.map(({ path, message }) => ({ path, message }))).toEqual(expect.arrayContaining([
      { path: '/version', message: 'must be 1' },
      { path: '/servcie', message: 'is not a known key' },
      { path: '/environment/labels', message: 'must be array' },
      { path: '/environment/default', message: 'must NOT have fewer than 1 characters' },
      { path: '/incidentKeyLabel', message: 'must be a label name or null' },
      { path: '/groupBy/rules/0/match/source', message: 'must be one of "alertmanager", "pingdom", "report"' },
      { path: '/groupBy/rules/0/match/labels/team', message: 'must be a string (quote numbers in YAML), { regex: "..." } or { present: true|false }' },
      { path: '/groupBy/rules/0/match/labels/tier', message: 'must NOT have more than 1 properties' },
      { path: '/groupBy/rules/0/by/0', message: 'must be service, environment, source, fingerprint or labels.<label name>' },
      { path: '/groupBy/rules/1/match/colour', message: 'is not a known key' },
      { path: '/groupBy/rules/1/by', message: 'must NOT have fewer than 1 items' },
      { path: '/groupBy/default/1', message: 'must be service, environment, source, fingerprint or labels.<label name>' },
      { path: '/groupBy/joinAlertmanagerGroups', message: 'must be boolean' },
    ]))
    expect(r.errors.some((e) => /must match "(then|else)"/.test(e.message))).toBe(false)
  })

  it('refuses a label name that starts or ends with white space or holds a control character, wherever a rule names one', () => {
    const r = parseGroupingRules(JSON.stringify({
      version: 1,
      service: { labels: ['service ', 'app'], rules: [{ match: { labels: { ' job': 'x' } }, labels: ['contai\u0000ner'] }] },
      environment: { labels: ['env\t'] },
      incidentKeyLabel: 'ticket\n',
      groupBy: { rules: [{ match: { labels: { 'name\u0085': { present: true } } }, by: ['labels. namespace', 'labels.a b'] }] },
    }), 'json')
    const typo = 'must not start or end with white space or hold control characters: in a rules file that is a typo'
    expect(r.ok ? [] : r.errors.map(({ path, message }) => ({ path, message }))).toEqual([
      { path: '/service/labels/0', message: typo },
      { path: '/service/rules/0/match/labels/ job', message: typo },
      { path: '/service/rules/0/labels/0', message: typo },
      { path: '/environment/labels/0', message: typo },
      { path: '/incidentKeyLabel', message: typo },
      { path: '/groupBy/rules/0/match/labels/name\u0085', message: typo },
      { path: '/groupBy/rules/0/by/0', message: 'must be labels.<label name>, the name with no white space at either end and no control characters: in a rules file that is a typo' },
    ])
    const byTypo = 'must be labels.<label name>, the name with no white space at either end and no control characters: in a rules file that is a typo'
    const byFaults = (by: string[]) => {
      const f = parseGroupingRules(JSON.stringify({ version: 1, groupBy: { default: by } }), 'json')
      return f.ok ? [] : f.errors.map(({ path, message }) => ({ path, message }))
    }
    expect(byFaults(['labels.ns ', 'labels.a\u0000b', 'labels.a\u0085', 'labels.\u00a0a', 'labels.a b'])).toEqual([0, 1, 2, 3].map((i) => ({ path: `/groupBy/default/${i}`, message: byTypo })))
    // No name at all is no typo of one.
    expect(byFaults(['labels.'])).toEqual([{ path: '/groupBy/default/0', message: 'must be service, environment, source, fingerprint or labels.<label name>' }])
  })

  it('says one thing about one fault: an empty or over-long name or value is refused for its length alone', () => {
    const faults = (file: object) => {
      const r = parseGroupingRules(JSON.stringify({ version: 1, ...file }), 'json')
      return r.ok ? [] : r.errors.map(({ path, message }) => ({ path, message }))
    }
    expect(faults({ incidentKeyLabel: '', service: { labels: [''] } })).toEqual([
      { path: '/service/labels/0', message: 'must NOT have fewer than 1 characters' },
      { path: '/incidentKeyLabel', message: 'must NOT have fewer than 1 characters' },
    ])
    expect(faults({ environment: { labels: [`${'x'.repeat(257)} `] } })).toEqual([{ path: '/environment/labels/0', message: 'must NOT have more than 256 characters' }])
    expect(faults({ groupBy: { rules: [{ match: { service: ' '.repeat(300), environment: `${'e'.repeat(200)}\n` }, by: ['service'] }] } })).toEqual([
      { path: '/groupBy/rules/0/match/service', message: 'is longer than an alert\'s service can be (256 code points): it would match no alert' },
      { path: '/groupBy/rules/0/match/environment', message: 'is longer than an alert\'s environment can be (128 code points): it would match no alert' },
    ])
  })

  it('refuses a default environment that is blank or holds a control character, as no label value could name one so', () => {
    for (const env of ['   ', 'prod\nuction', 'prod\u0085']) {
      const r = parseGroupingRules(JSON.stringify({ version: 1, environment: { default: env } }), 'json')
      expect(r.ok ? r : r.errors.map(({ path, message }) => ({ path, message }))).toEqual([
        { path: '/environment/default', message: 'must not be blank or hold control characters' },
      ])
    }
    const r = parseGroupingRules(JSON.stringify({ version: 1, environment: { default: 'pre prod' } }), 'json')
    expect(r.ok && r.rules.environment.default).toBe('pre prod')
  })

  it('names every regex that does not compile by its field', () => {
    const r = parseGroupingRules(JSON.stringify({
      version: 1,
      service: { rules: [{ match: { labels: { 'a/b': { regex: '(' } } }, labels: ['x'] }] },
      groupBy: { rules: [{ match: { service: { regex: '[z-a]' }, labels: { ok: { regex: 'fine|good' }, bad: { regex: '\\' } } }, by: ['service'] }] },
    }), 'json')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors.map((e) => e.line)).toEqual([1, 1, 1])
    expect(r.errors.map((e) => e.path)).toEqual([
      '/service/rules/0/match/labels/a~1b/regex',
      '/groupBy/rules/0/match/service/regex',
      '/groupBy/rules/0/match/labels/bad/regex',
    ])
    expect(r.errors[0]!.message).toMatch(/^is not a valid regex: /)
  })

  it('refuses a source regex that matches none of the sources, a rule that would never apply', () => {
    const rule = (regex: string) => ({ version: 1, groupBy: { rules: [{ match: { source: { regex } }, by: ['service'] }] } })
    const r = parseGroupingRules(JSON.stringify(rule('alertmanger|pingdum')), 'json')
    expect(!r.ok && r.errors).toEqual([
      { path: '/groupBy/rules/0/match/source/regex', message: 'matches none of alertmanager, pingdom, report: the rule would apply to no alert', line: 1 },
    ])
    for (const regex of ['alertmanager', 'ping.*', 'report|nagios']) expect(parseGroupingRules(JSON.stringify(rule(regex)), 'json').ok, regex).toBe(true)
  })

  it('refuses what RE2 does not have (lookaround, backreferences), as Alertmanager\'s matchers do', () => {
    for (const regex of ['(?<=a)b', '(a)\\1', 'x(?!y)', '\\p{Letter}', 'a{1001}']) {
      const r = parseGroupingRules(JSON.stringify({ version: 1, groupBy: { rules: [{ match: { service: { regex } }, by: ['service'] }] } }), 'json')
      expect(r, regex).toMatchObject({ ok: false, errors: [{ path: '/groupBy/rules/0/match/service/regex', message: expect.stringMatching(/^is not a valid regex: /) }] })
    }
  })

  it('takes many large regexes: RE2 here is plain JavaScript, with no heap of its own to run out of', () => {
    // re2-wasm's fixed 16 MiB heap refused the second of these with an out-of-memory abort.
    const rule = (i: number) => ({ name: `r${i}`, match: { labels: { team: { regex: '[\\p{L}\\d_-]{1,64}' }, tier: { regex: '.{0,1000}' } } }, by: ['service'] })
    const r = parseGroupingRules(JSON.stringify({ version: 1, groupBy: { rules: Array.from({ length: 50 }, (_, i) => rule(i)) } }), 'json')
    expect(r.ok && r.rules.groupBy.rules.length).toBe(50)
  })

  it('refuses a regex that is valid only inside the anchoring group, where it would match anything', () => {
    // `^(?:api)|(.*)$`: the wrapped form compiles, and its second branch takes every value.
    const r = parseGroupingRules(JSON.stringify({ version: 1, groupBy: { rules: [{ match: { service: { regex: 'api)|(.*' } }, by: ['service'] }] } }), 'json')
    expect(r).toMatchObject({ ok: false, errors: [{ path: '/groupBy/rules/0/match/service/regex', message: expect.stringMatching(/^is not a valid regex: /) }] })
  })

  it('gives the line of each YAML error, the key line for an unknown key', () => {
    const text = yamlFile
      .replace('  labels: [env]\n', '  labels: [env]\n  colour: red\n')
      .replace('      by: [environment, labels.namespace, labels.container]', '      by: [environment, namespace]')
      .replace('{ regex: "KubePod.*" }', '{ regex: "KubePod(" }')
    const r = parseGroupingRules(text, 'yaml')
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors).toEqual([
      { path: '/environment/colour', message: 'is not a known key', line: 6 },
      { path: '/groupBy/rules/0/match/labels/alertname/regex', message: expect.stringMatching(/^is not a valid regex: /), line: 15 },
      { path: '/groupBy/rules/0/by/1', message: 'must be service, environment, source, fingerprint or labels.<label name>', line: 17 },
    ])
  })

  it('gives JSON errors their lines too', () => {
    const text = JSON.stringify({ version: 1, groupBy: { rules: [{ match: { labels: { pod: { regex: '(' } } }, by: ['labels.pod'] }], default: ['host'] } }, null, 2)
    const r = parseGroupingRules(text, 'json')
    expect(!r.ok && r.errors).toEqual([
      { path: '/groupBy/rules/0/match/labels/pod/regex', message: expect.stringMatching(/^is not a valid regex/), line: 9 },
      { path: '/groupBy/default/0', message: 'must be service, environment, source, fingerprint or labels.<label name>', line: 19 },
    ])
  })

  it('reports YAML and JSON syntax errors, and YAML duplicate keys, instead of throwing', () => {
    const y = parseGroupingRules('version: 1\nservice:\n  labels: [a\n', 'yaml')
    expect(!y.ok && y.errors[0]).toMatchObject({ path: '/', message: expect.stringMatching(/^is not YAML/) })
    const dup = parseGroupingRules('version: 1\nversion: 1\n', 'yaml')
    expect(!dup.ok && dup.errors).toEqual([{ path: '/version', message: 'is a duplicate key', line: 2 }])
    const j = parseGroupingRules('{"version": 1,', 'json')
    expect(!j.ok && j.errors[0]).toMatchObject({ path: '/', message: expect.stringMatching(/^is not JSON/) })
    const notObject = parseGroupingRules('- 1\n', 'yaml')
    expect(!notObject.ok && notObject.errors[0]).toMatchObject({ path: '/', message: 'must be object' })
  })

  it('refuses a key given twice in a JSON file, naming it, as in YAML (JSON.parse kept the last)', () => {
    const r = parseGroupingRules('{\n  "version": 1,\n  "incidentKeyLabel": "incident_key",\n  "groupBy": { "default": ["labels.instance"], "default": ["service"] },\n  "incidentKeyLabel": null\n}\n', 'json')
    expect(!r.ok && r.errors).toEqual([
      { path: '/groupBy/default', message: 'is a duplicate key', line: 4 },
      { path: '/incidentKeyLabel', message: 'is a duplicate key', line: 5 },
    ])
  })

  it('lists a duplicate key with the file\'s other faults, in JSON and in YAML, and takes 1 and "1" for one key', () => {
    const faults = (r: ReturnType<typeof parseGroupingRules>) => (r.ok ? [] : r.errors.map((e) => [e.path, e.line]))
    const expected = [['/version', 1], ['/colour', 1], ['/groupBy/default/0', 1]]
    expect(faults(parseGroupingRules('{"version":1,"version":1,"colour":2,"groupBy":{"default":["nope"]}}', 'json')).sort()).toEqual(expected.sort())
    const yaml = 'version: 1\nversion: 1\ncolour: 2\ngroupBy:\n  default: [nope]\n'
    expect(faults(parseGroupingRules(yaml, 'yaml'))).toEqual([['/version', 2], ['/colour', 3], ['/groupBy/default/0', 5]])
    expect(faults(parseGroupingRules('version: 1\nservice:\n  labels: [a]\n  1: x\n  "1": y\n', 'yaml'))).toContainEqual(['/service/1', 5])
  })

  it('locates a fault of a key given twice at the copy that counts, the last; and takes merge keys, aliases and ~ as the parsed file does', () => {
    const r = parseGroupingRules('version: 1\nincidentKeyLabel: ticket\nincidentKeyLabel: 5\n', 'yaml')
    expect(!r.ok && r.errors).toEqual([
      { path: '/incidentKeyLabel', message: 'is a duplicate key', line: 3 },
      { path: '/incidentKeyLabel', message: expect.any(String), line: 3 },
    ])
    // YAML 1.1 merge keys merge (two are no duplicate); an alias key is the key it stands for; ~ and "null" are two keys.
    const merged = parseGroupingRules('%YAML 1.1\n---\nversion: 1\nx: &x { labels: [a] }\ny: &y { default: b }\nservice:\n  <<: *x\n  <<: *y\n', 'yaml')
    expect(merged.ok ? [] : merged.errors.filter((e) => e.message === 'is a duplicate key')).toEqual([])
    const aliased = parseGroupingRules('version: 1\nname: &k labels\nservice:\n  labels: [a]\n  *k : [b]\n', 'yaml')
    expect(aliased.ok ? [] : aliased.errors.filter((e) => e.message === 'is a duplicate key')).toEqual([{ path: '/service/labels', message: 'is a duplicate key', line: 5 }])
    const nulls = parseGroupingRules('version: 1\nservice:\n  ~: 1\n  "null": 2\n', 'yaml')
    expect(nulls.ok ? [] : nulls.errors.filter((e) => e.message === 'is a duplicate key')).toEqual([])
  })

  it('gives a file refused for expanding too many aliases the line of its first alias', () => {
    const bomb = `version: 1\nx: &a [1, 2]\n\ny: [${Array.from({ length: 120 }, () => '*a').join(', ')}]\n`
    expect(parseGroupingRules(bomb, 'yaml')).toEqual({ ok: false, errors: [{ path: '/', message: expect.stringMatching(/^is not usable YAML: .*alias/i), line: 4 }] })
  })

  it('reads a JSON file saved with a UTF-8 byte order mark', () => {
    const r = parseGroupingRules('\uFEFF{"version": 1, "incidentKeyLabel": "ticket"}', 'json')
    expect(r.ok && r.rules.incidentKeyLabel).toBe('ticket')
  })

  it('refuses an empty service or environment matcher, which no alert could match', () => {
    const r = parseGroupingRules('version: 1\ngroupBy:\n  rules:\n    - match: { service: "" }\n      by: [fingerprint]\n', 'yaml')
    expect(!r.ok && r.errors).toEqual([{ path: '/groupBy/rules/0/match/service', message: expect.stringMatching(/^is never empty/), line: 4 }])
  })

  it('refuses an exact service or environment that no alert\'s could be: blank, holding a control character, or over its cap', () => {
    const faults = (match: Record<string, string>) => {
      const r = parseGroupingRules(JSON.stringify({ version: 1, groupBy: { rules: [{ match, by: ['fingerprint'] }] } }), 'json')
      return r.ok ? [] : r.errors.map(({ path, message }) => ({ path, message }))
    }
    const unprintable = 'must not be blank or hold control characters: no alert\'s service or environment does (the receiver passes over a label value that does), so it would match no alert'
    for (const value of ['  ', 'check\nout', 'checkout\u0085']) {
      expect(faults({ service: value, environment: value }), JSON.stringify(value)).toEqual([
        { path: '/groupBy/rules/0/match/service', message: unprintable },
        { path: '/groupBy/rules/0/match/environment', message: unprintable },
      ])
    }
    expect(faults({ service: 's'.repeat(257), environment: 'e'.repeat(129) })).toEqual([
      { path: '/groupBy/rules/0/match/service', message: 'is longer than an alert\'s service can be (256 code points): it would match no alert' },
      { path: '/groupBy/rules/0/match/environment', message: 'is longer than an alert\'s environment can be (128 code points): it would match no alert' },
    ])
    // At the caps, and with inner spaces, a value an alert can have is taken.
    expect(faults({ service: 's'.repeat(256), environment: 'pre prod' + 'e'.repeat(120) })).toEqual([])
  })

  it('returns immutable rules', () => {
    const r = parseGroupingRules(yamlFile, 'yaml')
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(Object.isFrozen(r.rules)).toBe(true)
    expect(() => { (r.rules.service.labels as string[]).push('x') }).toThrow()
    expect(() => { (r.rules.document.groupBy.rules as unknown[]).pop() }).toThrow()
    expect(Object.isFrozen(defaultGroupingRules.document.service.rules![0]!.match)).toBe(true)
  })
})

describe('loadGroupingRulesFile', () => {
  it('reads by extension and throws with the path and every problem', () => {
    expect(loadGroupingRulesFile(tmpFile('rules.yml', yamlFile)).environment.default).toBe('prod')
    expect(loadGroupingRulesFile(tmpFile('rules.json', '{"version":1}')).service.labels).toEqual(defaultGroupingRules.service.labels)
    const bad = tmpFile('rules.yaml', 'version: 1\nbogus: 1\ngroupBy:\n  default: [nope]\n')
    expect(() => loadGroupingRulesFile(bad)).toThrow(`2 problem(s) in the grouping rules:\n    ${bad}:2 /bogus: is not a known key\n    ${bad}:4 /groupBy/default/0: must be`)
    expect(() => loadGroupingRulesFile(tmpFile('rules.toml', ''))).toThrow(/must end in \.json, \.yaml or \.yml/)
    expect(() => loadGroupingRulesFile('/nonexistent/rules.yaml')).toThrow(/^\/nonexistent\/rules\.yaml: cannot read the grouping rules: ENOENT/)
  })

  it('as a setting: empty is the defaults, a bad file is one error message', () => {
    expect(parseGroupingRulesSetting(undefined)).toEqual({ ok: true, value: defaultGroupingRules })
    expect(parseGroupingRulesSetting('  ')).toEqual({ ok: true, value: defaultGroupingRules })
    const r = parseGroupingRulesSetting(tmpFile('r.json', '{}'))
    expect(r.ok === false && r.error).toMatch(/1 problem\(s\).*\/version: must have required property 'version'/s)
  })
})

describe('docs/grouping.md', () => {
  it('shows a full example that is a valid rules file, whose service rules are the defaults', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs/grouping.md'), 'utf8')
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1]
    expect(example).toBeDefined()
    const r = parseGroupingRules(example!, 'yaml')
    if (!r.ok) throw new Error(JSON.stringify(r.errors))
    expect(r.rules.document.service).toEqual(defaultGroupingRules.document.service)
    expect(r.rules.document.environment).toEqual(defaultGroupingRules.document.environment)
    expect(r.rules.groupBy.rules.map((g) => g.name)).toHaveLength(3)
  })
})
