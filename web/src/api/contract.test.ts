import { describe, expect, it } from 'vitest'
import { checkContract, type OpenApiDocument } from './contract'
import snapshot from './openapi.snapshot.json'

// openapi.snapshot.json is a saved copy of GET /api/v1/openapi.json from `socialdevs serve`.
// The end-to-end suite runs the same check against the live document.
describe('API contract', () => {
  it('the saved OpenAPI document has every route and field the web app uses', () => {
    const report = checkContract(snapshot as OpenApiDocument)
    expect(report.problems).toEqual([])
  })

  it('reports a missing route, a missing field and a missing page cursor', () => {
    const doc = JSON.parse(JSON.stringify(snapshot)) as OpenApiDocument & {
      components: { schemas: Record<string, { properties: Record<string, unknown> }> }
    }
    delete doc.paths?.['/api/v1/auth/me']
    delete doc.components.schemas.Post.properties.liked_by_me
    delete doc.components.schemas.UserPage.properties.next_cursor
    const { problems } = checkContract(doc)
    expect(problems).toContain('missing operation GET /api/v1/auth/me')
    expect(problems).toContain('GET /api/v1/posts/{id}: Post lacks liked_by_me')
    expect(problems).toContain('GET /api/v1/users: page has no next_cursor')
  })

  it('checks both answers of register and the session of verify-email', () => {
    const doc = JSON.parse(JSON.stringify(snapshot)) as OpenApiDocument & {
      components: { schemas: Record<string, { properties: Record<string, unknown> }> }
    }
    delete doc.components.schemas.SignupPending.properties.expires_in
    delete doc.paths?.['/api/v1/auth/verify-email']
    const { problems } = checkContract(doc)
    expect(problems).toContain('POST /api/v1/auth/register: SignupPending lacks expires_in')
    expect(problems).toContain('missing operation POST /api/v1/auth/verify-email')
  })

  it('treats the notifications service as optional', () => {
    const doc = JSON.parse(JSON.stringify(snapshot)) as OpenApiDocument
    for (const path of Object.keys(doc.paths ?? {})) {
      if (path.startsWith('/api/v1/notifications')) delete doc.paths?.[path]
    }
    const report = checkContract(doc)
    expect(report.problems).toEqual([])
    expect(report.missingOptional).toContain('missing operation GET /api/v1/notifications/unread_count')
  })
})
