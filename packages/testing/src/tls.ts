/**
 * Made-for-the-test PKI and a SASL_SSL broker, for the production-connection tests: a CA, server
 * certificates it signs (openssl), and a throwaway single-node Kafka with a SASL_SSL listener
 * (infra/local/kafka-sasl-ssl.sh) on free ports. Nothing here touches the shared engines.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './ports.ts'

const run = promisify(execFile)

export interface TestCa {
  readonly dir: string
  /** PEM certificate: what OPSREVIEW_KAFKA_SSL_CA and OPSREVIEW_ES_CA name. */
  readonly certFile: string
  readonly keyFile: string
}

export interface ServerCert {
  readonly certFile: string
  /** PKCS#8 PEM, unencrypted. */
  readonly keyFile: string
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `${prefix}-`))
}

/** A self-signed CA in `dir` (P-256, valid two days). */
export async function makeTestCa(dir: string, name = 'opsreview test CA'): Promise<TestCa> {
  const certFile = path.join(dir, `${name.replace(/\W+/g, '-')}.pem`)
  const keyFile = certFile.replace(/\.pem$/, '.key')
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return { dir, certFile, keyFile }
}

/** A server certificate `ca` signs, for localhost and 127.0.0.1 (host names are verified by the clients). */
export async function issueServerCert(ca: TestCa, name: string): Promise<ServerCert> {
  const base = path.join(ca.dir, name)
  const ext = `${base}.ext`
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n')
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`])
  await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', `${base}.pem`, '-days', '2', '-extfile', ext])
  return { certFile: `${base}.pem`, keyFile: `${base}.key` }
}

export interface SaslSslKafka {
  readonly brokers: string[]
  readonly ca: TestCa
  /** The one client user, known to SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN. */
  readonly username: string
  readonly password: string
  /** Holds the broker's data (removed by `stop`) and logs (logs/server.log). */
  readonly dir: string
  stop: () => Promise<void>
}

const script = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../infra/local/kafka-sasl-ssl.sh')

/**
 * Starts a single-node Kafka whose only client listener is SASL_SSL, with a certificate from a CA made
 * here. Call `stop` in afterAll. Takes 15-30 s on this machine (two JVM starts: format and broker).
 */
export async function startSaslSslKafka(): Promise<SaslSslKafka> {
  const dir = tempDir('opsreview-sasl-ssl')
  const ca = await makeTestCa(dir)
  const cert = await issueServerCert(ca, 'broker')
  writeFileSync(path.join(dir, 'broker.pem'), readFileSync(cert.keyFile, 'utf8') + readFileSync(cert.certFile, 'utf8'))
  writeFileSync(path.join(dir, 'ca.pem'), readFileSync(ca.certFile, 'utf8'))
  const [port, controllerPort] = [await freePort(), await freePort()]
  const username = 'opsreview'
  const password = randomBytes(12).toString('hex')
  const env = { ...process.env, OPSREVIEW_SASL_USER: username, OPSREVIEW_SASL_PASSWORD: password }
  await run(script, ['start', dir, String(port), String(controllerPort)], { env, timeout: 120_000 })
  return {
    brokers: [`127.0.0.1:${port}`], ca, username, password, dir,
    // The data goes (its segments are preallocated); the logs stay, for a failure's post-mortem.
    stop: async () => { await run(script, ['stop', dir], { timeout: 30_000 }); rmSync(path.join(dir, 'data'), { recursive: true, force: true }) },
  }
}
