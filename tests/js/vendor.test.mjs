// The vendored browser builds are exactly the versions package-lock.json locks, byte for byte.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const VENDOR = join(ROOT, "src", "tether", "static", "vendor");
const manifest = JSON.parse(readFileSync(join(VENDOR, "manifest.json"), "utf8"));
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");

test("every dependency of package.json is vendored, pinned exactly", () => {
  assert.deepEqual(Object.keys(manifest).sort(), Object.keys(pkg.dependencies).sort());
  for (const [name, spec] of Object.entries(pkg.dependencies)) {
    assert.match(spec, /^\d+\.\d+\.\d+$/, `${name} must be pinned to an exact version`);
  }
});

test("manifest versions equal the locked versions", () => {
  for (const [name, entry] of Object.entries(manifest)) {
    const locked = lock.packages[`node_modules/${name}`];
    assert.ok(locked, `${name} is missing from package-lock.json`);
    assert.equal(entry.version, locked.version, `${name}: vendored ${entry.version}, locked ${locked.version}`);
  }
});

test("each vendored file matches its manifest hash", () => {
  for (const [name, entry] of Object.entries(manifest)) {
    const path = join(VENDOR, entry.file);
    assert.ok(existsSync(path), `${name}: ${entry.file} is missing`);
    assert.equal(sha256(path), entry.sha256, `${name}: ${entry.file} differs from the manifest`);
    assert.ok(existsSync(join(VENDOR, entry.license)), `${name}: licence file missing`);
  }
});

test("when node_modules is installed, the vendored files are its builds", async (t) => {
  const { BUILDS } = await import("../../scripts/vendor.mjs");
  for (const [name, build] of Object.entries(BUILDS)) {
    const source = join(ROOT, "node_modules", name, build.source);
    if (!existsSync(source)) {
      // `make test` installs them; only a bare `node --test` outside CI may go without.
      assert.notEqual(process.env.CI, "true", `${name}: node_modules is not installed (npm ci)`);
      t.diagnostic(`${name}: node_modules not installed, skipped the byte comparison`);
      continue;
    }
    assert.equal(sha256(source), manifest[name].sha256, `${name}: run node scripts/vendor.mjs`);
  }
});
