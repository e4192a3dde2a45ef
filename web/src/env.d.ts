/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** API origin when the app is not served next to the API (default: same origin). */
  readonly VITE_API_BASE_URL?: string
}

interface ImportMeta {
  readonly env: ImportMetaEnv
}
