import { describe, expect, it, onTestFinished } from 'vitest'
import { stack } from './processes.ts'
import { chaosOptionsFrom } from './chaos/options.ts'
import { describeFindings, runChaos, runCleanups } from './chaos/run.ts'

// The short chaos run (docs/chaos.md): every fault once (SIGKILL of the receiver, the correlator, the
// indexer and the broker; SIGSTOP of Elasticsearch), poison on the side, then the oracle. It kills the
// shared engines, so it belongs to the outage project; OPSREVIEW_CHAOS_* variables change its sizes.
describe('chaos: faults everywhere while a real Alertmanager sends', () => {
  it('loses no acknowledged alert state, indexes each exactly once, matches the replayed incidents and dead-letters every poison alert', { timeout: 420_000 }, async () => {
    const options = chaosOptionsFrom(['--short'], process.env)
    const notes: string[] = []
    const note = (m: string) => { notes.push(`${new Date().toISOString().slice(11, 19)} ${m}`) }
    const cleanups: (() => Promise<void> | void)[] = []
    // Registered first, so they run last: the engines are back for whatever runs next, even after a throw.
    onTestFinished(async () => { await stack('start', 'kafka'); await stack('start', 'elasticsearch') })
    onTestFinished(() => runCleanups(cleanups, note))

    const result = await runChaos(options, note, cleanups)
    console.log(result.verdict.line)
    const report = `${result.verdict.line}\n${describeFindings(result.verdict)}\n${notes.join('\n')}\nreport: ${result.workDir}/report.json`
    expect(result.faults.map((f) => f.kind).sort(), report).toEqual(Array.from({ length: options.rounds }, () => options.faults).flat().sort())
    expect(result.verdict.pass, report).toBe(true)
  })
})
