import { checkContract, type OpenApiDocument } from '../src/api/contract'
import { expect, test } from './fixtures'

test('the live OpenAPI document has every route and field the web app uses', async ({ request }) => {
  const res = await request.get('/api/v1/openapi.json')
  expect(res.status()).toBe(200)
  const report = checkContract((await res.json()) as OpenApiDocument)
  expect(report.problems).toEqual([])
  if (report.missingOptional.length) {
    test.info().annotations.push({ type: 'not deployed yet', description: report.missingOptional.join('; ') })
  }
})

test('the server answers unknown API paths with problem+json and app paths with the app', async ({ request }) => {
  const api = await request.get('/api/v1/no-such-thing')
  expect(api.status()).toBe(404)
  expect(api.headers()['content-type']).toContain('application/problem+json')
  const body = await api.json()
  expect(String(body.type)).toMatch(/not-found$/)

  const page = await request.get('/tags/anything')
  expect(page.status()).toBe(200)
  expect(page.headers()['content-type']).toContain('text/html')
  expect(page.headers()['cache-control']).toBe('no-cache')
  expect(await page.text()).toContain('<div id="app"></div>')
})
