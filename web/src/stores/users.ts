import { defineStore } from 'pinia'
import { reactive } from 'vue'
import { errorMessage, useApi } from '@/api'
import type { Profile } from '@/api'

function key(username: string) {
  return username.toLowerCase()
}

/** Profiles by username, and follow/unfollow with optimistic counts. */
export const useUsersStore = defineStore('users', () => {
  const profiles = reactive<Record<string, Profile>>({})
  /** Whether the signed-in user follows someone, also for users seen only in lists. */
  const following = reactive<Record<string, boolean>>({})
  const followErrors = reactive<Record<string, string>>({})
  const pending = new Set<string>()

  async function load(username: string): Promise<Profile> {
    const profile = await useApi().profile(username)
    profiles[key(username)] = profile
    following[key(username)] = profile.followed_by_me
    return profile
  }

  function get(username: string): Profile | undefined {
    return profiles[key(username)]
  }

  function isFollowing(username: string): boolean | undefined {
    return following[key(username)]
  }

  /** Follows or unfollows at once; rolls back and records the error if the server refuses. */
  async function toggleFollow(username: string, currentlyFollowing?: boolean): Promise<void> {
    const k = key(username)
    if (pending.has(k)) return
    const wasFollowing = currentlyFollowing ?? following[k] ?? profiles[k]?.followed_by_me ?? false
    pending.add(k)
    delete followErrors[k]
    apply(k, !wasFollowing)
    try {
      if (wasFollowing) await useApi().unfollow(username)
      else await useApi().follow(username)
    } catch (err) {
      apply(k, wasFollowing)
      followErrors[k] = `Couldn't ${wasFollowing ? 'unfollow' : 'follow'}: ${errorMessage(err)}`
    } finally {
      pending.delete(k)
    }
  }

  function apply(k: string, follow: boolean) {
    const before = following[k] ?? profiles[k]?.followed_by_me ?? false
    following[k] = follow
    const profile = profiles[k]
    if (profile) {
      profile.followed_by_me = follow
      if (before !== follow) profile.followers_count = Math.max(0, profile.followers_count + (follow ? 1 : -1))
    }
  }

  function followError(username: string): string | undefined {
    return followErrors[key(username)]
  }

  /** Records follow state seen elsewhere without touching counts. */
  function noteFollowing(username: string, value: boolean) {
    following[key(username)] = value
  }

  return { profiles, following, followErrors, load, get, isFollowing, toggleFollow, followError, noteFollowing }
})
