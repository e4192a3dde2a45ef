import { ApiError, errorMessage } from '@/api'

export interface FormErrors {
  /** Messages for fields the form shows. */
  fields: Record<string, string>
  /** A message for the whole form (no field named, or a field the form does not show). */
  form: string | null
}

/**
 * Spreads a failed request's problem details over a form: each named field gets its own
 * message; anything else becomes the form-level message.
 */
export function formErrors(err: unknown, shownFields: readonly string[], aliases: Record<string, string> = {}): FormErrors {
  const fields: Record<string, string> = {}
  const leftovers: string[] = []
  if (err instanceof ApiError) {
    for (const e of err.fieldErrors) {
      const name = aliases[e.field] ?? e.field
      if (shownFields.includes(name) && !fields[name]) fields[name] = e.message
      else leftovers.push(e.message)
    }
    const named = Object.keys(fields).length > 0
    return { fields, form: named ? (leftovers[0] ?? null) : (leftovers[0] ?? errorMessage(err)) }
  }
  return { fields, form: errorMessage(err) }
}
