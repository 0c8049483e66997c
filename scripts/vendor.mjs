// Copies the browser ESM builds of the front-end dependencies from node_modules into the Python
// package's static folder, so `tether serve` needs neither npm nor a CDN at run time.
//
//   npm ci && node scripts/vendor.mjs
//
// Writes src/tether/static/vendor/manifest.json: {name: {version, file, sha256, license}}.
// tests/js/vendor.test.mjs checks the manifest against package-lock.json and the files' hashes.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const VENDOR = join(ROOT, "src", "tether", "static", "vendor");

/** What to copy: package name -> its browser ES module build and its licence file. */
export const BUILDS = {
  "socket.io-client": { source: "dist/socket.io.esm.min.js", file: "socket.io.esm.min.js" },
  marked: { source: "lib/marked.esm.js", file: "marked.esm.js" },
  dompurify: { source: "dist/purify.es.mjs", file: "purify.es.mjs" },
  // Not used by the app: the e2e suite loads it into pages to check accessibility (WCAG AA).
  "axe-core": { source: "axe.min.js", file: "axe.min.js" },
};

const LICENSE_NAMES = ["LICENSE", "LICENSE.md", "LICENSE.txt"];

export function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function copyLicense(pkgDir, name) {
  for (const candidate of LICENSE_NAMES) {
    try {
      const target = `${name}.LICENSE.txt`;
      copyFileSync(join(pkgDir, candidate), join(VENDOR, target));
      return target;
    } catch {
      // try the next spelling
    }
  }
  throw new Error(`${name}: no licence file found`);
}

function main() {
  mkdirSync(VENDOR, { recursive: true });
  const manifest = {};
  for (const [name, build] of Object.entries(BUILDS)) {
    const pkgDir = join(ROOT, "node_modules", name);
    const { version } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
    const target = join(VENDOR, build.file);
    copyFileSync(join(pkgDir, build.source), target);
    const license = copyLicense(pkgDir, name);
    manifest[name] = { version, file: build.file, sha256: sha256(target), license };
    console.log(`vendored ${name}@${version} -> ${build.file}`);
  }
  writeFileSync(join(VENDOR, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
