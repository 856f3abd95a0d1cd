// The web dashboard's build: web/ -> dist/web (scripts/build.js runs it). Everything is bundled (no
// CDN, no external fonts); assets get content hashes, so the server may cache them for a year.
import preact from "@preact/preset-vite";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: "/",
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: false })],
  logLevel: "warn",
  build: {
    outDir: path.join(here, "..", "dist", "web"),
    emptyOutDir: true,
    sourcemap: false,
    // No inlined data: URLs for assets: the CSP allows them for images only.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000, // elkjs is about 1.5 MB; it is loaded once and cached
  },
  server: { proxy: { "/graphql": { target: "http://127.0.0.1:4000", ws: true }, "/auth": "http://127.0.0.1:4000" } },
});
