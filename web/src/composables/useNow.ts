import { onScopeDispose, ref, type Ref } from 'vue'

const now = ref(Date.now())
let users = 0
let timer: ReturnType<typeof setInterval> | null = null

/** The current time, updated every 30 s and shared by every relative timestamp on screen. */
export function useNow(): Ref<number> {
  users++
  if (!timer) timer = setInterval(() => (now.value = Date.now()), 30_000)
  now.value = Date.now()
  onScopeDispose(() => {
    users--
    if (users === 0 && timer) {
      clearInterval(timer)
      timer = null
    }
  })
  return now
}
