import { defineConfig } from 'vitest/config';

declare const process: { env: Record<string, string | undefined> };

// The Ferry server serves the built files at "/" (same origin as /api/v1).
// FERRY_WEB_OUT_DIR lets the C++ build put them where it embeds/serves them.
const outDir = process.env.FERRY_WEB_OUT_DIR || 'dist';
// For `npm run dev`: where the API lives (FERRY_API, a running `ferry server`).
const apiTarget = process.env.FERRY_API || 'http://127.0.0.1:8787';

export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: { '/api': { target: apiTarget, changeOrigin: true } },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
