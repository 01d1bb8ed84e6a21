// `opsreview replay` and `opsreview retention` as the operator runs them: the CLI from source as a process,
// its exit code and output.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ensureIndices } from '@opsreview/search-index/templates'
import { cleanupIndices, elasticsearchUrl, esClient, kafkaBrokers, repoRoot, uniqueName } from '@opsreview/testing'

const run = promisify(execFile)

/** Runs the CLI with only `env` (and the engines the tests use): nothing of the caller's environment leaks in. */
async function opsreview(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--disable-warning=TimeoutNegativeWarning', '--conditions=@opsreview/source', path.join(repoRoot, 'services/indexer/src/cli.ts'), ...args], {
      env: { PATH: process.env.PATH ?? '', OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_ES_URL: elasticsearchUrl, ...env }, timeout: 60_000,
    })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    if (typeof e.code !== 'number') throw err
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

/** Topics no test creates: a replay over them reads nothing and returns at once. */
const missingTopics = () => ({ OPSREVIEW_TOPIC_ALERTS: uniqueName('cli-alerts-missing'), OPSREVIEW_TOPIC_COMMANDS: uniqueName('cli-commands-missing') })

describe('opsreview replay, exit codes', () => {
  it('exits 78 naming the index and the prefix variable when the live indices do not exist, instead of comparing with nothing', async () => {
    const prefix = uniqueName('rv-nosuch-prefix')
    const r = await opsreview(['replay', '--from', '3h'], { OPSREVIEW_ES_INDEX_PREFIX: prefix, ...missingTopics() })
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(`opsreview replay: the live index ${prefix}-incidents does not exist, so there is nothing to compare the replay with; check OPSREVIEW_ES_INDEX_PREFIX (${prefix}), or start the indexer, which creates it\n`)
    expect(r.code).toBe(78)
  })

  it('exits 69 with one line when Kafka does not answer', async () => {
    const prefix = uniqueName('rv-cli')
    cleanupIndices(prefix)
    const es = esClient()
    onTestFinished(() => es.close())
    await ensureIndices(es, prefix)
    const r = await opsreview(['replay', '--from', '3h'], { OPSREVIEW_ES_INDEX_PREFIX: prefix, OPSREVIEW_KAFKA_BROKERS: '127.0.0.1:1' })
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^opsreview replay: Kafka is unavailable: Connection error: connect ECONNREFUSED 127\.0\.0\.1:1\n$/)
    expect(r.code).toBe(69)
  })

  it('a rules file that cannot be read is a configuration fault (78) from OPSREVIEW_GROUPING_RULES, a flag fault (64) from --config', async () => {
    const file = path.join(repoRoot, 'no-such-dir', 'rules.yaml')
    const fromVariable = await opsreview(['replay', '--from', '3h'], { OPSREVIEW_GROUPING_RULES: file })
    expect(fromVariable.stderr).toMatch(/^opsreview replay:\n {2}- OPSREVIEW_GROUPING_RULES .*no-such-dir\/rules\.yaml/)
    expect(fromVariable.stderr).not.toContain('--config:')
    expect(fromVariable.code).toBe(78)

    const fromFlag = await opsreview(['replay', '--from', '3h', '--config', file], {})
    expect(fromFlag.stderr).toMatch(/^opsreview replay:\n {2}- --config: .*no-such-dir\/rules\.yaml/)
    expect(fromFlag.code).toBe(64)
  })
})

describe('opsreview retention, exit codes', () => {
  it('exits 69 with one line when Elasticsearch does not answer, for a dry run and for a run', async () => {
    const env = { OPSREVIEW_ES_INDEX_PREFIX: uniqueName('ret-cli'), OPSREVIEW_ES_URL: 'http://127.0.0.1:1' }
    for (const args of [['retention', '--dry-run'], ['retention']]) {
      const r = await opsreview(args, env)
      expect(r.stdout, args.join(' ')).toBe('')
      expect(r.stderr.split('\n').filter((l) => l.startsWith('opsreview retention:')), args.join(' ')).toEqual(['opsreview retention: connect ECONNREFUSED 127.0.0.1:1'])
      // No stack; and a one-shot run is not tried again, so its log does not say it is.
      expect(r.stderr, args.join(' ')).not.toMatch(/^\s+at /m)
      expect(r.stderr, args.join(' ')).not.toContain('tried again')
      expect(r.code, args.join(' ')).toBe(69)
    }
  })
})
