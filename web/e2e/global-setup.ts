import { startServer } from './server'

/**
 * Starts `socialdevs serve` (API + built web app) on a free port with a fresh data
 * directory, and returns the teardown that stops it and removes the directory.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const server = await startServer({ log: 'socialdevs.log' })
  process.env.E2E_BASE_URL = server.baseURL
  return server.stop
}
