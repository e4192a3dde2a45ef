import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError, onSessionExpired, useApi } from '@/api'
import { localSession } from '@/api/session'
import type { AuthSession, ChangePasswordRequest, LoginRequest, RegisterRequest, SignupPending, UpdateProfileRequest, User } from '@/api'

/** The signed-in user and the session's life cycle. */
export const useAuthStore = defineStore('auth', () => {
  const user = ref<User | null>(localSession.accessToken() ? localSession.user() : null)
  /** Set when the session ended without the user asking (refresh token expired). */
  const expired = ref(false)
  const isLoggedIn = computed(() => user.value !== null)

  function adopt(session: AuthSession) {
    localSession.saveSession(session)
    user.value = session.user
    expired.value = false
  }

  async function login(request: LoginRequest) {
    adopt(await useApi().login(request))
  }

  /**
   * Creates an account and signs in. When the server confirms e-mail addresses first, nothing
   * is signed in: the answer says where the link went and for how long it works.
   */
  async function register(request: RegisterRequest): Promise<SignupPending | null> {
    const registration = await useApi().register(request)
    if (registration.kind === 'confirmation-sent') return registration.pending
    adopt(registration.session)
    return null
  }

  /**
   * Confirms a sign-up with its mailed token: the new account is created and signed in. A
   * session of another account in this browser is signed out rather than left behind.
   */
  async function verifyEmail(token: string) {
    const previous = localSession.refreshToken()
    adopt(await useApi().verifyEmail(token))
    if (previous) {
      try {
        await useApi().logout(previous)
      } catch {
        // It is gone locally either way.
      }
    }
  }

  /** Re-reads the user behind a saved session; drops the session if it no longer works. */
  async function restore() {
    if (!localSession.accessToken()) {
      user.value = null
      return
    }
    try {
      const me = await useApi().me()
      user.value = me
      localSession.saveUser(me)
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        localSession.clear()
        user.value = null
      }
      // Otherwise (offline, server error) keep the saved user and try again later.
    }
  }

  async function logout() {
    const refreshToken = localSession.refreshToken()
    localSession.clear()
    user.value = null
    expired.value = false
    if (refreshToken) {
      try {
        await useApi().logout(refreshToken)
      } catch {
        // The session is gone locally either way.
      }
    }
  }

  /** Signs out every session, this one included. */
  async function logoutEverywhere() {
    await useApi().logoutAll()
    localSession.clear()
    user.value = null
    expired.value = false
  }

  /** Changes the password: every other session ends, this one continues with new tokens. */
  async function changePassword(request: ChangePasswordRequest) {
    adopt(await useApi().changePassword(request))
  }

  async function updateProfile(request: UpdateProfileRequest) {
    const updated = await useApi().updateMe(request)
    user.value = updated
    localSession.saveUser(updated)
    return updated
  }

  function sessionExpired() {
    if (!user.value) return
    user.value = null
    expired.value = true
  }

  onSessionExpired(sessionExpired)

  return { user, expired, isLoggedIn, login, register, verifyEmail, restore, logout, logoutEverywhere, changePassword, updateProfile, sessionExpired }
})
