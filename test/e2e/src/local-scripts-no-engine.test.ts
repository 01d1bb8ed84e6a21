import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { repoRoot } from '@opsreview/testing'
import { sh, standInKafka } from './local-scripts.ts'

// Parts of the local stack's scripts that start no engine: a home of the test's own, nothing listens.

/** The process runs: a zombie (exited, not yet reaped by whoever adopted it) does not count. */
const alive = (pid: number) => { try { return !/^State:\s*[ZX]/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')) } catch { return false } }


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

  it("run.sh stop and status leave alone a service of another home run from the same checkout (a stale or copied pid file names it)", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'opsreview-two-homes-'))
    const [homeA, homeB] = [path.join(dir, 'a'), path.join(dir, 'b')]
    for (const home of [homeA, homeB]) await mkdir(path.join(home, 'services'), { recursive: true })
    // Home A's receiver, as run.sh launches it: the checkout's main.ts on its command line, A's home in its environment.
    const receiver = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', path.join(repoRoot, 'services/receiver/src/main.ts')], {
      stdio: 'ignore', env: { PATH: process.env.PATH ?? '', OPSREVIEW_HOME: homeA },
    })
    onTestFinished(async () => {
      if (receiver.exitCode === null && receiver.signalCode === null) receiver.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    })
    await expect.poll(() => readFileSync(`/proc/${receiver.pid}/cmdline`, 'utf8')).toContain('services/receiver/src/main.ts')
    await writeFile(path.join(homeB, 'services', 'receiver.pid'), `${receiver.pid}\n`)

    const status = await sh('run.sh', ['status'], { OPSREVIEW_HOME: homeB })
    expect(status.out).toContain('receiver down\n')
    const stop = await sh('run.sh', ['stop'], { OPSREVIEW_HOME: homeB })
    expect(stop.code, stop.err).toBe(0)
    expect(stop.err).not.toContain('stopping receiver')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect({ exitCode: receiver.exitCode, signal: receiver.signalCode }).toEqual({ exitCode: null, signal: null })

    // Its own home's stop stops it.
    await writeFile(path.join(homeA, 'services', 'receiver.pid'), `${receiver.pid}\n`)
    expect((await sh('run.sh', ['status'], { OPSREVIEW_HOME: homeA })).out).toContain(`receiver up pid ${receiver.pid}\n`)
    const own = await sh('run.sh', ['stop'], { OPSREVIEW_HOME: homeA })
    expect(own.err).toContain(`stopping receiver (pid ${receiver.pid}, SIGTERM)`)
    await expect.poll(() => receiver.signalCode).toBe('SIGTERM')
  })

  it('a start that finds a port taken by another process says how to find it and which setting moves the stack', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'opsreview-port-taken-'))
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(async () => {
      await new Promise((resolve) => server.close(resolve))
      await rm(home, { recursive: true, force: true })
    })
    const port = (server.address() as net.AddressInfo).port
    // Checked before anything is fetched or launched.
    const run = await sh('stack.sh', ['start', 'elasticsearch'], { OPSREVIEW_HOME: home, OPSREVIEW_ES_PORT: String(port) })
    expect(run.code).toBe(1)
    expect(run.err).toContain(`port ${port} (elasticsearch) is taken by a process this stack did not start: stop that process (ss -ltnp 'sport = :${port}' names it), or give this stack another port (OPSREVIEW_ES_PORT)`)
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

  it('an interrupted test run (test.sh, SIGTERM) stops the engines a test started in a home of its own (ownHome), and not the stack of the home the run uses', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'opsreview-interrupted-'))
    // The stack the person had running before the run: test.sh's own OPSREVIEW_HOME.
    const userHome = path.join(dir, 'user-home')
    const userEngine = await standInKafka(userHome)
    const engines = [userEngine]
    onTestFinished(async () => {
      for (const pid of engines) if (alive(pid)) process.kill(pid, 'SIGKILL')
      await rm(dir, { recursive: true, force: true })
    })
    // A test as the e2e ones that start engines: a home from ownHome, and an engine in it, whose cleanup
    // (afterAll, onTestFinished) never runs once the run is ended.
    const test = `const { ownHome, standInKafka } = await import(${JSON.stringify(path.join(repoRoot, 'test/e2e/src/local-scripts.ts'))})
      const home = await ownHome(${JSON.stringify(dir)})
      const pid = await standInKafka(home)
      console.log('started ' + home + ' ' + pid)
      setInterval(() => {}, 1000)`
    // What test.sh does around its vitest runs.
    const script = 'source infra/local/common.sh; record_test_homes; trap "end_groups; stop_test_homes" EXIT; exit_on_signals; ' +
      'in_group node --conditions=@opsreview/source --input-type=module -e "$1"; wait_group'
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPSREVIEW_')))
    const shell = spawn('bash', ['-c', script, '_', test], {
      cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`, OPSREVIEW_HOME: userHome },
    })
    let out = ''
    let err = ''
    shell.stdout.on('data', (c: Buffer) => { out += c.toString() })
    shell.stderr.on('data', (c: Buffer) => { err += c.toString() })
    const exited = new Promise<number | null>((resolve) => shell.on('exit', (code) => resolve(code)))
    await expect.poll(() => /^started (\S+) (\d+)$/m.exec(out), { timeout: 30_000, interval: 50 }).toBeTruthy()
    const [, testHome, pid] = /^started (\S+) (\d+)$/m.exec(out)!
    const testEngine = Number(pid)
    engines.push(testEngine)
    expect(alive(testEngine)).toBe(true)
    shell.kill('SIGTERM')
    expect(await exited, err).toBe(143)
    // Stopped through its pid file before the run exited, as `run.sh stop` in that home stops it.
    expect(alive(testEngine), err).toBe(false)
    expect(existsSync(path.join(testHome!, 'kafka/kafka.pid'))).toBe(false)
    expect(alive(userEngine)).toBe(true)
    expect(await readFile(path.join(userHome, 'kafka/kafka.pid'), 'utf8')).toBe(`${userEngine}\n`)
  })
})
