import { describe, expect, it } from 'vitest'
import { fieldSentence, formErrors } from './forms'
import { ApiError } from '@/api'

describe('fieldSentence', () => {
  it('turns fragments into sentences about the field', () => {
    expect(fieldSentence('Password', 'must be at least 8 characters long')).toBe('Password must be at least 8 characters long.')
    expect(fieldSentence('Username', 'username is already taken')).toBe('Username is already taken.')
    expect(fieldSentence('Email', 'That address is in use.')).toBe('That address is in use.')
  })
})

describe('formErrors', () => {
  const conflict = new ApiError({
    type: 'https://socialdevs.dev/problems/conflict',
    title: 'Conflict',
    status: 409,
    detail: 'username is already taken',
    errors: [{ field: 'username', message: 'username is already taken' }],
  })

  it('puts named fields next to their inputs', () => {
    expect(formErrors(conflict, ['username', 'email'], {}, { username: 'Username' })).toEqual({
      fields: { username: 'Username is already taken.' },
      form: null,
    })
  })

  it('uses the detail for the form when no shown field is named', () => {
    expect(formErrors(conflict, ['email'])).toEqual({ fields: {}, form: 'Username is already taken.' })
    const plain = new ApiError({ type: 'about:blank', title: 'Server error', status: 500, detail: 'Try again.' })
    expect(formErrors(plain, ['email'])).toEqual({ fields: {}, form: 'Try again.' })
  })

  it('maps aliases', () => {
    const e = new ApiError({ type: 'x/validation', title: 'Bad', status: 422, errors: [{ field: 'email', message: 'must be a valid e-mail address' }] })
    expect(formErrors(e, ['login'], { email: 'login' }, { login: 'Username or email' }).fields).toEqual({
      login: 'Username or email must be a valid e-mail address.',
    })
  })
})
