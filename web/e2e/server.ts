import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const repoDir = resolve(webDir, '..')

/**
 * The suite signs many accounts up and in from one address; the per-user limits stay at
 * their defaults, so the app is shown to live within them.
 */
export const RATE_LIMITS =
  process.env.SOCIALDEVS_RATE_LIMITS ?? 'register=off,login=off,login-account=off,anonymous=off'

export interface ServerOptions {
  /** The log file, in `test-results/` unless the path is absolute. */
  log: string
  /** More environment for the server, which may name its base URL and data directory. */
  env?: (baseURL: string, dataDir: string) => Record<string, string>
}

/** A running `socialdevs serve`. */
export interface Server {
  baseURL: string
  /** Its fresh data directory, removed by `stop`. */
  dataDir: string
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer()
    srv.once('error', fail)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address ? address.port : 0
      srv.close(() => ok(port))
    })
  })
}

async function waitHealthy(url: string, child: ChildProcess, logFile: string, deadlineMs: number) {
  const deadline = Date.now() + deadlineMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`socialdevs exited with code ${child.exitCode} before it was healthy:\n${tail(logFile)}`)
    }
    try {
      const res = await fetch(url)
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`socialdevs was not healthy at ${url} within ${deadlineMs / 1000}s:\n${tail(logFile)}`)
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-40).join('\n')
  } catch {
    return '(no log)'
  }
}

/**
 * Starts `target/debug/socialdevs serve` (or `SOCIALDEVS_BIN`: API + built web app) on a
 * free port with a fresh data directory, and waits until it is healthy.
 */
export async function startServer(options: ServerOptions): Promise<Server> {
  const binary = process.env.SOCIALDEVS_BIN ?? join(repoDir, 'target', 'debug', 'socialdevs')
  if (!existsSync(binary)) {
    throw new Error(`${binary} not found: build it with \`cargo build --bin socialdevs\` at the repository root (or set SOCIALDEVS_BIN).`)
  }
  const webDist = join(webDir, 'dist')
  if (!existsSync(join(webDist, 'index.html'))) {
    throw new Error('web/dist/index.html not found: run `npm run build` in web/ first.')
  }

  const port = await freePort()
  const baseURL = `http://127.0.0.1:${port}`
  const dataDir = mkdtempSync(join(tmpdir(), 'socialdevs-e2e-'))
  const logFile = resolve(webDir, 'test-results', options.log)
  mkdirSync(dirname(logFile), { recursive: true })
  const log = createWriteStream(logFile)

  const child = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      SOCIALDEVS_LISTEN: `127.0.0.1:${port}`,
      SOCIALDEVS_DATA_DIR: dataDir,
      SOCIALDEVS_WEB_DIR: webDist,
      SOCIALDEVS_LOG_FORMAT: process.env.SOCIALDEVS_LOG_FORMAT ?? 'json',
      RUST_LOG: process.env.RUST_LOG ?? 'info',
      SOCIALDEVS_RATE_LIMITS: RATE_LIMITS,
      ...options.env?.(baseURL, dataDir),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)

  try {
    await waitHealthy(`${baseURL}/healthz`, child, logFile, 60_000)
  } catch (err) {
    child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
    throw err
  }

  return {
    baseURL,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise<void>((ok) => child.once('exit', () => ok()))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      log.end()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
