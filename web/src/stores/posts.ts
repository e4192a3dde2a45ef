import { defineStore } from 'pinia'
import { reactive } from 'vue'
import { errorMessage, useApi } from '@/api'
import type { Post } from '@/api'

/**
 * One copy of every post the app has seen, so a like on Home shows on the post page too.
 * Lists keep ids and read the posts from here.
 */
export const usePostsStore = defineStore('posts', () => {
  const byId = reactive<Record<string, Post>>({})
  /** Last error of an action on a post, shown next to it. */
  const actionErrors = reactive<Record<string, string>>({})
  const pendingLikes = new Set<string>()

  function upsert(post: Post): string {
    const existing = byId[post.id]
    if (existing) Object.assign(existing, post)
    else byId[post.id] = post
    return post.id
  }

  function upsertMany(posts: Post[]): string[] {
    return posts.map(upsert)
  }

  function get(id: string): Post | undefined {
    return byId[id]
  }

  /** Likes or unlikes at once, then asks the server; puts everything back if it refuses. */
  async function toggleLike(id: string): Promise<void> {
    const post = byId[id]
    if (!post || pendingLikes.has(id)) return
    pendingLikes.add(id)
    delete actionErrors[id]
    const wasLiked = post.liked_by_me
    post.liked_by_me = !wasLiked
    post.like_count = Math.max(0, post.like_count + (wasLiked ? -1 : 1))
    try {
      if (wasLiked) await useApi().unlike(id)
      else await useApi().like(id)
    } catch (err) {
      post.liked_by_me = wasLiked
      post.like_count = Math.max(0, post.like_count + (wasLiked ? 1 : -1))
      actionErrors[id] = `Couldn't ${wasLiked ? 'unlike' : 'like'}: ${errorMessage(err)}`
    } finally {
      pendingLikes.delete(id)
    }
  }

  async function create(text: string, replyTo?: string, idempotencyKey?: string): Promise<Post> {
    const post = await useApi().createPost(replyTo ? { text, reply_to: replyTo } : { text }, idempotencyKey)
    upsert(post)
    if (replyTo && byId[replyTo]) byId[replyTo].reply_count += 1
    return post
  }

  async function remove(id: string): Promise<void> {
    delete actionErrors[id]
    const post = byId[id]
    try {
      await useApi().deletePost(id)
    } catch (err) {
      actionErrors[id] = `Couldn't delete: ${errorMessage(err)}`
      throw err
    }
    if (post?.reply_to && byId[post.reply_to]) {
      byId[post.reply_to].reply_count = Math.max(0, byId[post.reply_to].reply_count - 1)
    }
    delete byId[id]
  }

  function clearError(id: string) {
    delete actionErrors[id]
  }

  return { byId, actionErrors, upsert, upsertMany, get, toggleLike, create, remove, clearError }
})
