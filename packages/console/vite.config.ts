import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// In development Vite serves the console and forwards everything else to the API server
// (`lagscale api`, or `npm start`), so the console talks to one origin in both modes.
const apiTarget = process.env.LAGSCALE_API_URL ?? 'http://127.0.0.1:8080';
const proxied = ['/api', '/openapi.json', '/healthz', '/metrics'];
// Source maps publish the console's source: written only when asked for (the server then serves
// them only with the same variable set; packages/cli/src/stack/console-assets.ts).
const sourcemap = process.env.LAGSCALE_CONSOLE_SOURCEMAPS === '1';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  // Relative asset paths: the API server may mount the built console under any prefix.
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap },
  server: { proxy: Object.fromEntries(proxied.map((path) => [path, { target: apiTarget, changeOrigin: false }])) },
  preview: { proxy: Object.fromEntries(proxied.map((path) => [path, { target: apiTarget, changeOrigin: false }])) },
});
