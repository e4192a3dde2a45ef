import { ApiError, errorMessage } from '@/api'

export interface FormErrors {
  /** Messages for fields the form shows. */
  fields: Record<string, string>
  /** A message for the whole form (no field named, or a field the form does not show). */
  form: string | null
}

/**
 * Makes a server's field message read as a sentence: "must be at least 8 characters long"
 * under "Password" becomes "Password must be at least 8 characters long."
 */
export function fieldSentence(label: string, message: string): string {
  let m = message.trim()
  if (!m) return m
  const lower = m.toLowerCase()
  const field = label.toLowerCase()
  if (lower.startsWith(field + ' ')) m = label + m.slice(label.length)
  else if (/^[a-z]/.test(m)) m = `${label} ${m}`
  m = m.charAt(0).toUpperCase() + m.slice(1)
  return /[.!?]$/.test(m) ? m : `${m}.`
}

/**
 * Spreads a failed request's problem details over a form: each named field gets its own
 * message; anything else becomes the form-level message. `labels` name the fields in
 * messages (default: the field name with spaces).
 */
export function formErrors(
  err: unknown,
  shownFields: readonly string[],
  aliases: Record<string, string> = {},
  labels: Record<string, string> = {},
): FormErrors {
  const fields: Record<string, string> = {}
  const leftovers: string[] = []
  if (err instanceof ApiError) {
    for (const e of err.fieldErrors) {
      const name = aliases[e.field] ?? e.field
      const label = labels[name] ?? labels[e.field] ?? e.field.replace(/_/g, ' ')
      const message = fieldSentence(label, e.message)
      if (shownFields.includes(name) && !fields[name]) fields[name] = message
      else leftovers.push(message)
    }
    const named = Object.keys(fields).length > 0
    return { fields, form: named ? (leftovers[0] ?? null) : (leftovers[0] ?? errorMessage(err)) }
  }
  return { fields, form: errorMessage(err) }
}
