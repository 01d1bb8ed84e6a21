import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import pino from 'pino'
import { Spool } from './spool.ts'

const fixture = fileURLToPath(new URL('./fixtures/append-until-killed.ts', import.meta.url))

/** Starts the appender, lets it run until it has acknowledged `acks` more keys, and kills it with SIGKILL. */
async function runAndKill(dir: string, log: string, firstKey: number, acks: number): Promise<void> {
  const child = spawn(process.execPath, [fixture, dir, log, String(firstKey)], { stdio: ['ignore', 'pipe', 'inherit'] })
  onTestFinished(() => { child.kill('SIGKILL') })
  await once(child.stdout, 'data')
  for (;;) {
    const acked = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('A ')).length
    if (acked >= acks) break
    await new Promise((r) => setTimeout(r, 5))
  }
  child.kill('SIGKILL')
  await once(child, 'exit')
}

describe('Spool killed with SIGKILL', () => {
  it('publishes every acknowledged record at least once, in order, after each of several kills', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'spool-kill-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const log = path.join(dir, 'keys.log')
    const spoolDir = path.join(dir, 'spool')
    let acked = 0
    for (let kill = 0; kill < 3; kill++) {
      await runAndKill(spoolDir, log, 10_000 * kill, acked + 120)
      acked = (await readFile(log, 'utf8')).split('\n').filter((l) => l.startsWith('A ')).length
    }

    const spool = await Spool.open(spoolDir, { logger: pino({ level: 'silent' }) })
    const published: string[] = []
    spool.startDraining(async (records) => { published.push(...records.map((r) => r.key)) })
    expect(await spool.drained(30_000)).toBe(true)
    await spool.close()

    const lines = (await readFile(log, 'utf8')).split('\n')
    const ackedKeys = lines.filter((l) => l.startsWith('A ')).map((l) => l.slice(2))
    const everPublished = [...lines.filter((l) => l.startsWith('P ')).map((l) => l.slice(2)), ...published]
    const firsts = [...new Set(everPublished)].filter((k) => ackedKeys.includes(k))
    expect(ackedKeys.length).toBeGreaterThanOrEqual(360)
    expect(firsts).toEqual(ackedKeys)
  }, 120_000)
})
