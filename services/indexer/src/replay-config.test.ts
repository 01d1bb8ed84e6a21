// docs/replay.md's Settings table against what `opsreview replay` reads: a threshold the correlator takes
// and the replay overrides, but the page leaves out, is one an operator never learns the replay honours.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { elasticsearchConnectionSpec, kafkaConnectionSpec } from '@opsreview/config'
import { replayConfigSpec } from './replay-config.ts'

const doc = (name: string) => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8')

/**
 * The variables a page's text names: each `OPSREVIEW_…` in full, and each `…_SUFFIX` or `_SUFFIX` as every
 * name it can abbreviate, the last full name before it with one or more of its trailing words replaced
 * (`OPSREVIEW_LATE_HOLD_AFTER`, `…_QUIET` is OPSREVIEW_LATE_HOLD_QUIET).
 */
function namesIn(text: string): Set<string> {
  const names = new Set<string>()
  let last = ''
  for (const [, name] of text.matchAll(/`((?:OPSREVIEW|…)?_[A-Z0-9_]+)`/g)) {
    if (name!.startsWith('OPSREVIEW_')) { names.add(name!); last = name!; continue }
    const words = last.split('_')
    const suffix = name!.replace(/^…/, '')
    for (let keep = 1; keep < words.length; keep++) names.add(`${words.slice(0, keep).join('_')}${suffix}`)
  }
  return names
}

describe('docs/replay.md', () => {
  const settings = doc('replay.md').split('\n## Settings\n')[1]!.split('\n## ')[0]!
  const documented = namesIn(settings)
  // The connection variables are every service's and command's: configuration.md lists them once.
  const connections = Object.keys({ ...kafkaConnectionSpec, ...elasticsearchConnectionSpec })

  it('lists every variable the replay reads in its Settings, the connection ones in configuration.md', () => {
    const missing = Object.keys(replayConfigSpec).filter((name) => !connections.includes(name) && !documented.has(name))
    expect(missing).toEqual([])
    const configurationPage = namesIn(doc('configuration.md'))
    expect(connections.filter((name) => !configurationPage.has(name))).toEqual([])
  })

  it('names no variable in its Settings that the replay does not read', () => {
    const full = [...settings.matchAll(/`(OPSREVIEW_[A-Z0-9_]+)`/g)].map((m) => m[1]!)
    expect(full.filter((name) => !(name in replayConfigSpec))).toEqual([])
  })
})
