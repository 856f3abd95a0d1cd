/*
 * `require` of Baton's .ts files for bin/baton.js: each file is transpiled once (TypeScript's
 * transpileModule, as ts-node's transpile-only mode does) and the JavaScript is kept in
 * node_modules/.cache/baton-ts, keyed by the file's path and content. Why not ts-node: every `baton`
 * call paid for loading the TypeScript compiler and transpiling ~30 files again, about 1.5 s of a
 * 2 s `baton directive status`, and agents call the CLI from inside their tasks. With a warm cache the
 * compiler is never loaded. Type-checking stays `npm run typecheck`. If the cache cannot be written
 * (a read-only install), files are transpiled in memory at each start, as before.
 */
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const COMPILER_OPTIONS = {
  module: "nodenext",
  moduleResolution: "nodenext",
  target: "es2022",
  esModuleInterop: true,
  inlineSourceMap: true,
  inlineSources: false,
};

function register(root) {
  const cacheDir = path.join(root, "node_modules", ".cache", "baton-ts");
  let ts;
  let options;
  let version = "";
  try {
    version = JSON.parse(fs.readFileSync(path.join(root, "node_modules", "typescript", "package.json"), "utf8")).version;
  } catch {
    // no typescript package.json: the key below still changes with the source
  }
  const transpile = (source, filename) => {
    if (!ts) {
      ts = require("typescript");
      options = ts.convertCompilerOptionsFromJson(COMPILER_OPTIONS, root).options;
    }
    return ts.transpileModule(source, { compilerOptions: options, fileName: filename }).outputText;
  };
  process.setSourceMapsEnabled?.(true); // stack traces name .ts lines
  require.extensions[".ts"] = function compileTs(module, filename) {
    const source = fs.readFileSync(filename, "utf8");
    const key = crypto.createHash("sha1").update(`${version}\0${JSON.stringify(COMPILER_OPTIONS)}\0${filename}\0${source}`).digest("hex");
    const cached = path.join(cacheDir, `${key}.js`);
    let code;
    try {
      code = fs.readFileSync(cached, "utf8");
    } catch {
      code = transpile(source, filename);
      try {
        fs.mkdirSync(cacheDir, { recursive: true });
        const tmp = `${cached}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, code);
        fs.renameSync(tmp, cached); // atomic: concurrent starts never read half a file
      } catch {
        // read-only: keep going without the cache
      }
    }
    module._compile(code, filename);
  };
}

module.exports = { register };
