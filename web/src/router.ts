import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { useAuthStore } from './stores/auth'
import ExploreView from './views/ExploreView.vue'
import HomeView from './views/HomeView.vue'
import LoginView from './views/LoginView.vue'
import NotFoundView from './views/NotFoundView.vue'
import NotificationsView from './views/NotificationsView.vue'
import PostView from './views/PostView.vue'
import ProfileFollows from './views/ProfileFollows.vue'
import ProfilePosts from './views/ProfilePosts.vue'
import ProfileView from './views/ProfileView.vue'
import RegisterView from './views/RegisterView.vue'
import SettingsView from './views/SettingsView.vue'
import TagView from './views/TagView.vue'
import VerifyEmailView from './views/VerifyEmailView.vue'

declare module 'vue-router' {
  interface RouteMeta {
    /** Only for signed-in users; others go to the login page. */
    requiresAuth?: boolean
    /** Only for signed-out users (login, register). */
    guestOnly?: boolean
    /** A page without the navigation chrome. */
    bare?: boolean
    title?: string
  }
}

// The app is small enough that one bundle loads faster than many lazy chunks.
export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'home', component: HomeView, meta: { requiresAuth: true, title: 'Home' } },
  { path: '/login', name: 'login', component: LoginView, meta: { guestOnly: true, bare: true, title: 'Log in' } },
  { path: '/register', name: 'register', component: RegisterView, meta: { guestOnly: true, bare: true, title: 'Sign up' } },
  // Not guest-only: a link opened while signed in still creates its account (and signs in to it).
  { path: '/verify-email', name: 'verify-email', component: VerifyEmailView, meta: { bare: true, title: 'Confirm your email' } },
  { path: '/explore', name: 'explore', component: ExploreView, meta: { title: 'Explore' } },
  { path: '/notifications', name: 'notifications', component: NotificationsView, meta: { requiresAuth: true, title: 'Notifications' } },
  { path: '/settings', name: 'settings', component: SettingsView, meta: { requiresAuth: true, title: 'Settings' } },
  { path: '/posts/:id', name: 'post', component: PostView, meta: { title: 'Post' } },
  { path: '/tags/:tag', name: 'tag', component: TagView },
  {
    path: '/@:username',
    component: ProfileView,
    children: [
      { path: '', name: 'profile', component: ProfilePosts },
      { path: 'followers', name: 'followers', component: ProfileFollows, props: { which: 'followers' } },
      { path: 'following', name: 'following', component: ProfileFollows, props: { which: 'following' } },
    ],
  },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: NotFoundView, meta: { title: 'Not found' } },
]

export function createAppRouter() {
  const router = createRouter({
    history: createWebHistory(import.meta.env.BASE_URL),
    routes,
    scrollBehavior(to, _from, saved) {
      if (saved) return saved
      // A fragment naming an element scrolls to it; others (a mailed link's `#token=…`) are data.
      if (/^#[A-Za-z][\w-]*$/.test(to.hash)) return { el: to.hash, top: 80 }
      return { top: 0 }
    },
  })

  router.beforeEach((to) => {
    const auth = useAuthStore()
    if (to.meta.requiresAuth && !auth.isLoggedIn) {
      return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
    }
    if (to.meta.guestOnly && auth.isLoggedIn) return { name: 'home' }
    return true
  })

  router.afterEach((to) => {
    const title =
      to.meta.title ??
      (to.name === 'tag' ? `#${String(to.params.tag)}` : to.params.username ? `@${String(to.params.username)}` : '')
    document.title = title ? `${title} · SocialDevs` : 'SocialDevs'
  })

  return router
}

/** Where to go after logging in: the page that asked, if it is one of ours. */
export function safeRedirect(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') ? value : '/'
}
