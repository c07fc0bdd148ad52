/// <reference types="vitest/config" />
// Vite config for the Flightdeck UI.
//
// The same bundle is served by `flightdeck serve` at `/` and by the desktop shell from
// `tauri://localhost`, so asset URLs are relative. During `npm run dev`, set
// FLIGHTDECK_NODE_URL=http://127.0.0.1:<port> to proxy the API and the feed to a running node.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const nodeUrl = process.env.FLIGHTDECK_NODE_URL;
const proxy = nodeUrl
  ? {
      "/api": { target: nodeUrl, ws: true, changeOrigin: true },
      "/health": { target: nodeUrl, changeOrigin: true },
      "/livez": { target: nodeUrl, changeOrigin: true },
      "/readyz": { target: nodeUrl, changeOrigin: true },
    }
  : undefined;

export default defineConfig({
  base: "./",
  plugins: [react()],
  clearScreen: false,
  server: {
    port: 1420,
    strictPort: true,
    ...(proxy ? { proxy } : {}),
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // Everything is bundled; nothing is fetched from elsewhere (strict CSP: default-src 'self').
    assetsInlineLimit: 0,
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
