import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it, onTestFinished } from 'vitest'
import { launchChromium } from '@opsreview/testing/chromium'
import { repoRoot, uniqueName, waitFor } from '@opsreview/testing'
import { freePort, pipelineOfTest, processEnv, startService } from './processes.ts'

const INGEST = 'ingest-token'
const READ = 'read-token'
const run = promisify(execFile)

/** `pnpm opsreview replay …` as the operator runs it: the CLI from source, its exit code and output. */
async function opsreview(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--conditions=@opsreview/source', path.join(repoRoot, 'services/indexer/src/cli.ts'), ...args], {
      env: { ...processEnv(), ...env }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024,
    })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    if (typeof e.code !== 'number') throw err
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

describe('opsreview replay as a process, on the whole pipeline', () => {
  it('refuses bad flags with exit 64, listing every fault', async () => {
    const r = await opsreview(['replay', '--from', 'yesterday', '--index', 'Bad_Name', '--bogus'], {})
    expect(r.code).toBe(64)
    expect(r.stderr).toContain('unknown argument "--bogus"')
    expect(r.stderr).toContain('--from must be a date-time')
    expect(r.stderr).toContain('--index must be a dataset name')
  })

  it('replays live alerts grouped by namespace, writes a dataset the review and dashboard open, and drops it', async () => {
    const runId = uniqueName('whatif')
    const prefix = runId
    const { topics, common } = pipelineOfTest(runId)
    const receiverPort = await freePort()
    const reviewPort = await freePort()
    await Promise.all([
      startService('receiver', { ...common, OPSREVIEW_RECEIVER_PORT: String(receiverPort), OPSREVIEW_INGEST_TOKENS: INGEST, OPSREVIEW_SPOOL_DIR: await mkdtemp(path.join(os.tmpdir(), 'whatif-spool-')) }, 'connected to kafka'),
      // The alerts fired 16 to 20 minutes before they are posted: a backlog to the live correlator, held until
      // the input has been quiet this long (30 s by default). Both posts arrive within milliseconds.
      startService('correlator', { ...common, OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_CORRELATOR_GROUP: `${runId}-correlator`, OPSREVIEW_TICK_INTERVAL: '1s', OPSREVIEW_SNAPSHOT_INTERVAL: '1s', OPSREVIEW_KAFKA_SESSION_TIMEOUT: '6s', OPSREVIEW_LATE_HOLD_QUIET: '5s' }, 'correlator running'),
      startService('indexer', { ...common, OPSREVIEW_INDEXER_PORT: String(await freePort()), OPSREVIEW_INDEXER_GROUP: `${runId}-indexer` }, 'indexer consuming'),
      startService('review', { ...common, OPSREVIEW_REVIEW_PORT: String(reviewPort), OPSREVIEW_READ_TOKENS: READ, OPSREVIEW_WRITE_TOKENS: 'write-token', OPSREVIEW_DEAD_LETTER_TOPICS: topics.OPSREVIEW_TOPIC_REJECTED }, 'review listening'),
    ])
    const review = `http://127.0.0.1:${reviewPort}`
    const api = async (p: string) => {
      const res = await fetch(`${review}${p}`, { headers: { authorization: `Bearer ${READ}` } })
      return { status: res.status, body: (await res.json()) as { total: number; items: { services: string[] }[]; code?: string } }
    }

    // checkout and payments in namespace shop, billing in its own: three live incidents by service.
    const now = Date.now()
    const alert = (service: string, namespace: string, minutesAgo: number, status: 'firing' | 'resolved') => ({
      status, labels: { alertname: `${service}Errors`, service, namespace, severity: 'critical' }, annotations: { summary: `${service} errors` },
      startsAt: new Date(now - minutesAgo * 60_000).toISOString(), endsAt: status === 'resolved' ? new Date(now - 5 * 60_000).toISOString() : '0001-01-01T00:00:00Z', fingerprint: `${service}-errors`,
    })
    const post = async (status: 'firing' | 'resolved') => {
      const res = await fetch(`http://127.0.0.1:${receiverPort}/webhooks/alertmanager`, {
        method: 'POST', headers: { authorization: `Bearer ${INGEST}`, 'content-type': 'application/json' },
        body: JSON.stringify({ version: '4', status, receiver: 'opsreview', groupKey: `{}:{status="${status}"}`, alerts: [alert('checkout', 'shop', 20, status), alert('payments', 'shop', 18, status), alert('billing', 'billing', 16, status)] }),
      })
      expect(res.status).toBeLessThan(300)
    }
    await post('firing')
    await post('resolved')
    await waitFor(async () => ((await api('/api/v1/incidents?status=resolved')).body.total === 3 ? true : undefined), { timeoutMs: 60_000, intervalMs: 500, what: 'three resolved live incidents' })

    const dir = await mkdtemp(path.join(os.tmpdir(), 'whatif-rules-'))
    const rules = path.join(dir, 'by-namespace.yaml')
    await writeFile(rules, 'version: 1\ngroupBy:\n  default: [labels.namespace]\n')
    const env = { ...common, OPSREVIEW_TICK_INTERVAL: '1s' }
    const replayed = await opsreview(['replay', '--from', '1h', '--config', rules, '--index', 'ns', '--json'], env)
    expect(replayed.stderr).toBe('')
    expect(replayed.code).toBe(0)
    const report = JSON.parse(replayed.stdout) as { replay: { alerts: number }; comparison: { incidents: Record<string, unknown> & { merged: { live: unknown[] }[] } }; dataset: { incidents: { count: number } } }
    expect(report.replay.alerts).toBe(6)
    expect(report.comparison.incidents).toMatchObject({ live: 3, replay: 2, delta: -1, unchanged: 1, split: [], onlyLive: [], onlyReplay: [] })
    expect(report.comparison.incidents.merged.map((m) => m.live.length)).toEqual([2])
    expect(report.dataset.incidents.count).toBe(2)

    // The review reads the dataset beside the live indices.
    expect((await api('/api/v1/incidents')).body.total).toBe(3)
    const whatIf = await api('/api/v1/incidents?dataset=ns')
    expect(whatIf.body.items.map((i) => i.services.sort().join('+')).sort()).toEqual(['billing', 'checkout+payments'])

    // The dashboard opened on the dataset says so, and its search runs on the dataset.
    const browser = await launchChromium()
    onTestFinished(() => browser.close())
    const page = await browser.newPage()
    await page.goto(`${review}/?dataset=ns#token=${READ}`)
    expect(await page.locator('#dataset-banner').isVisible()).toBe(true)
    expect(await page.locator('#dataset-banner').textContent()).toContain('what-if dataset ns')
    await page.getByRole('button', { name: 'Load' }).click()
    await page.getByRole('search').getByRole('button', { name: 'Search' }).click()
    await expect.poll(() => page.locator('#search-total').textContent(), { timeout: 15_000 }).toBe('2 incidents found')
    // The live page has no banner.
    await page.goto(`${review}/`)
    expect(await page.locator('#dataset-banner').isVisible()).toBe(false)

    const dropped = await opsreview(['replay', '--drop', 'ns'], env)
    expect(dropped.code).toBe(0)
    expect(dropped.stdout).toBe(`dropped what-if dataset ns: ${prefix}-whatif-ns-incidents-000001, ${prefix}-whatif-ns-problems-000001\n`)
    expect(await api('/api/v1/incidents?dataset=ns')).toMatchObject({ status: 404, body: { code: 'DATASET_NOT_FOUND' } })
    expect((await opsreview(['replay', '--drop', 'ns'], env)).code).toBe(1)
  })
})
