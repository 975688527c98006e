'use strict';
// Builds the native addon with cargo and copies it beside native.js as
// refundkit.node. `node build.js --release` builds the release profile.
// The only tools needed are cargo and node (ADR 0018).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const release = process.argv.includes('--release');
const root = path.resolve(__dirname, '..');
const cargoArgs = ['build', '--locked', '-p', 'refundkit-node'];
if (release) cargoArgs.push('--release');
execFileSync('cargo', cargoArgs, { cwd: root, stdio: 'inherit' });

const library = {
  linux: 'librefundkit_node.so',
  darwin: 'librefundkit_node.dylib',
  win32: 'refundkit_node.dll',
}[process.platform];
if (!library) throw new Error(`unsupported platform: ${process.platform}`);
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const built = path.join(targetDir, release ? 'release' : 'debug', library);
const addon = path.join(__dirname, 'refundkit.node');
// Copy to a temporary name, then rename: a process that has the old addon
// loaded keeps its mapping intact.
fs.copyFileSync(built, `${addon}.tmp`);
fs.renameSync(`${addon}.tmp`, addon);
console.log(`built ${path.relative(process.cwd(), addon)} (${release ? 'release' : 'debug'})`);
