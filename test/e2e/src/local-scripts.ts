// Runs the local stack's scripts (infra/local/run.sh, stack.sh) on a home and ports of a test's own, for the
// tests of the scripts themselves: the shared engines are not touched.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { appendFile, chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { repoRoot } from '@opsreview/testing'
import { stackHome } from './chaos/faults.ts'

export interface Run { code: number | null; out: string; err: string }

export interface Launched {
  child: ChildProcess
  /** What it wrote so far. */
  out: () => string
  err: () => string
  done: Promise<Run>
}

/**
 * Starts infra/local/SCRIPT with `env` over the test's environment, less every OPSREVIEW_* variable of that
 * environment: the test's own engines (OPSREVIEW_KAFKA_BROKERS, OPSREVIEW_ES_URL) or tokens would otherwise
 * reach the services a start launches, and the script would act on others' ports.
 */
export function launch(script: string, args: string[], env: Record<string, string>): Launched {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPSREVIEW_')))
  // Node 24 first on PATH: the scripts' bootstrap then finds it and installs nothing into the fresh home.
  const child = spawn('bash', [path.join(repoRoot, 'infra/local', script), ...args], {
    env: { ...inherited, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const done = once(child, 'exit').then(([code]) => ({ code: code as number | null, out, err }))
  return { child, out: () => out, err: () => err, done }
}

export const sh = (script: string, args: string[], env: Record<string, string>): Promise<Run> => launch(script, args, env).done

/**
 * A fresh OPSREVIEW_HOME under `parent` (TMPDIR by default), with the engines the machine already fetched
 * instead of a download per test run.
 */
export async function ownHome(parent = os.tmpdir()): Promise<string> {
  await mkdir(parent, { recursive: true })
  const home = await mkdtemp(path.join(parent, 'opsreview-home-'))
  // An interrupted test run (infra/local/test.sh) stops what runs from the homes recorded there: this test's
  // cleanup then never runs, and the engines it starts here are in sessions of their own.
  const record = process.env.OPSREVIEW_TEST_HOMES_FILE
  if (record) await appendFile(record, `${home}\n`)
  // As root, Elasticsearch runs as an unprivileged user, who must enter the home (mkdtemp makes it 0700).
  await chmod(home, 0o755)
  const engines = path.join(stackHome(), 'engines')
  if (existsSync(engines)) await symlink(engines, path.join(home, 'engines'))
  else await mkdir(path.join(home, 'engines'))
  return home
}

/**
 * A home Elasticsearch can run in: under the stack's own home, which its user can reach. Not under TMPDIR:
 * the test run's scratch directory is a mkdtemp folder (0700) that user cannot enter.
 */
export const ownElasticsearchHome = (): Promise<string> => ownHome(path.join(stackHome(), 'test-homes'))

/**
 * Stands in for the Kafka node stack.sh launches in `home`, where a real one would take a minute to start: in
 * a session of its own (setsid) as that node, with the command line stack.sh checks before it signals a pid
 * and the pid file it writes. Returns its pid; the caller ends it.
 */
export async function standInKafka(home: string): Promise<number> {
  const run = path.join(home, 'kafka')
  await mkdir(run, { recursive: true })
  const engine = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'kafka.Kafka', path.join(run, 'server.properties')], { detached: true, stdio: 'ignore' })
  engine.unref()
  await writeFile(path.join(run, 'kafka.pid'), `${engine.pid}\n`)
  return engine.pid!
}
