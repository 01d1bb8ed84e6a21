import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { repoRoot } from '@opsreview/testing'
import { sh } from './local-scripts.ts'

// Parts of the local stack's scripts that start no engine: a home of the test's own, nothing listens.

describe('the local stack scripts, without an engine', () => {
  it('kafka-sasl-ssl.sh stop leaves alone a process that is not its broker (the pid file names a reused pid)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'opsreview-sasl-stale-'))
    const other = spawn('sleep', ['60'], { stdio: 'ignore' })
    onTestFinished(() => { other.kill('SIGKILL') })
    await writeFile(path.join(dir, 'kafka.pid'), `${other.pid}\n`)
    const run = await sh('kafka-sasl-ssl.sh', ['stop', dir], { OPSREVIEW_HOME: dir })
    expect(run.code).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect({ exitCode: other.exitCode, signal: other.signalCode }).toEqual({ exitCode: null, signal: null })
    expect(existsSync(path.join(dir, 'kafka.pid'))).toBe(false)
  })

  it('run.sh start makes a token again when an interrupted start left its file empty', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'opsreview-home-'))
    await mkdir(path.join(home, 'services'))
    // What `node … > ingest-token` leaves when the start is cut short (Ctrl-C, a full disk) before node writes.
    await writeFile(path.join(home, 'services', 'ingest-token'), '')
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPSREVIEW_')))
    // run.sh's token(), as `start` calls it; `status` on this empty home only reads pid files.
    const run = spawnSync('bash', ['-c', 'set -- status; source infra/local/run.sh >/dev/null 2>&1 || true; token OPSREVIEW_INGEST_TOKENS ingest-token; printf %s "$OPSREVIEW_INGEST_TOKENS"'], {
      cwd: repoRoot, encoding: 'utf8',
      env: { ...env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`, OPSREVIEW_HOME: home, OPSREVIEW_KAFKA_PORT: '39092', OPSREVIEW_ES_PORT: '39200' },
    })
    expect(run.stderr).toBe('')
    // An empty list: the receiver refuses it (at least one token) and every later start failed the same way.
    expect(run.stdout).toMatch(/^[\w-]{32}$/)
  })
})
