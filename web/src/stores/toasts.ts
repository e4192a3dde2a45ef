import { defineStore } from 'pinia'
import { ref } from 'vue'

export interface Toast {
  id: number
  text: string
  tone: 'info' | 'error'
}

/** Short confirmations ("Post deleted") announced politely to screen readers. */
export const useToastsStore = defineStore('toasts', () => {
  const toasts = ref<Toast[]>([])
  let next = 1

  function show(text: string, tone: Toast['tone'] = 'info', ms = 4000) {
    const id = next++
    toasts.value = [...toasts.value, { id, text, tone }]
    setTimeout(() => dismiss(id), ms)
  }

  function dismiss(id: number) {
    toasts.value = toasts.value.filter((t) => t.id !== id)
  }

  return { toasts, show, dismiss }
})
