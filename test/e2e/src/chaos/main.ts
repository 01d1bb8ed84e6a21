// pnpm chaos: one fault run against the stack named by the environment; prints one verdict line and exits
// non-zero on FAIL. infra/local/chaos.sh sets the environment from the stack's ports.
import { chaosOptionsFrom, chaosUsage } from './options.ts'
import { describeFindings, runChaos, runCleanups } from './run.ts'

const note = (message: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}\n`)

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(chaosUsage)
  process.exit(0)
}
const options = chaosOptionsFrom(process.argv.slice(2), process.env)
const cleanups: (() => Promise<void> | void)[] = []
// An interrupted run must still SIGCONT Elasticsearch, restart Kafka and stop its services.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    note(`${signal}: cleaning up`)
    void runCleanups(cleanups, note).finally(() => process.exit(130))
  })
}

let code = 2
try {
  const result = await runChaos(options, note, cleanups)
  const details = describeFindings(result.verdict)
  if (details) console.log(details)
  for (const f of result.faults) console.log(`fault ${f.kind} at +${Math.round(f.at / 1000)} s for ${Math.round(f.ms / 1000)} s: ${f.detail}`)
  for (const [name, crashes] of Object.entries(result.crashes)) if (crashes.length > 0) console.log(`${name} exited by itself ${crashes.length} time(s): ${crashes.join(', ')}`)
  console.log(`report: ${result.workDir}/report.json (total ${result.seconds.total} s, load ${result.seconds.load} s, settle ${result.seconds.settle} s, seed ${options.seed}; ${result.topology.kafkaNodes} Kafka node(s), ${result.topology.instances} instance(s) of each service)`)
  console.log(result.verdict.line)
  code = result.verdict.pass ? 0 : 1
} catch (err) {
  note(`chaos run failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  console.log('chaos: FAIL the run itself failed (see above)')
} finally {
  await runCleanups(cleanups, note)
}
process.exit(code)
