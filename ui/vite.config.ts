/// <reference types="vitest/config" />
// Vite config for the Flightdeck UI.
//
// The same bundle is served by `flightdeck serve` at `/` and by the desktop shell from
// `tauri://localhost`, so asset URLs are relative. During `npm run dev`, set
// FLIGHTDECK_NODE_URL=http://127.0.0.1:<port> to proxy the API and the feed to a running node.
import { defineConfig, type ProxyOptions } from "vite";
import react from "@vitejs/plugin-react";

const nodeUrl = process.env.FLIGHTDECK_NODE_URL;
// The node trusts only its own origin (scheme, host and port): the dev server speaks for the
// page it serves, so its proxied requests carry the node's origin.
function toNode(target: string, ws = false): ProxyOptions {
  const origin = new URL(target).origin;
  return {
    target,
    ws,
    changeOrigin: true,
    configure: (proxy) => {
      proxy.on("proxyReq", (req) => req.setHeader("origin", origin));
      proxy.on("proxyReqWs", (req) => req.setHeader("origin", origin));
    },
  };
}
const proxy = nodeUrl
  ? {
      "/api": toNode(nodeUrl, true),
      "/health": toNode(nodeUrl),
      "/livez": toNode(nodeUrl),
      "/readyz": toNode(nodeUrl),
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
    // The stylesheet as written, for theme/palette.test.ts (`styles.css?raw`); other CSS stays empty.
    css: { include: [/styles\.css/] },
  },
});
