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

  it('a script sent SIGTERM while it waits for a run it started in a group of its own ends that whole group (test.sh and its vitest runs)', async () => {
    // Unique durations name the run's processes: a child and a grandchild, as pnpm runs vitest and vitest its workers.
    const marks = [`3600.${process.pid}1`, `3600.${process.pid}2`]
    const running = () => spawnSync('pgrep', ['-f', `^sleep (${marks.join('|')})$`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean)
    onTestFinished(() => { spawnSync('pkill', ['-KILL', '-f', `^sleep (${marks.join('|')})$`]) })
    // What test.sh does around each vitest run.
    const script = `source infra/local/common.sh; trap end_groups EXIT; exit_on_signals; in_group bash -c 'sleep ${marks[0]} & sleep ${marks[1]}; wait'; wait_group`
    const shell = spawn('bash', ['-c', script], { cwd: repoRoot, stdio: 'ignore' })
    const exited = new Promise<number | null>((resolve) => shell.on('exit', (code) => resolve(code)))
    await expect.poll(running, { timeout: 10_000, interval: 50 }).toHaveLength(2)
    shell.kill('SIGTERM')
    // Ended at once, not when the run ends by itself an hour later.
    expect(await exited).toBe(143)
    await expect.poll(running, { timeout: 5_000, interval: 50 }).toEqual([])
  })
})
