'use strict';
// Loads the native addon that `npm run build` (build.js) places beside
// this file: refundkit.node, the cdylib of the Rust crate bindings/node.

const path = require('node:path');

const ADDON = path.join(__dirname, 'refundkit.node');

function load() {
  try {
    return require(ADDON);
  } catch (error) {
    if (error && error.code === 'MODULE_NOT_FOUND') {
      throw new Error(
        `refundkit's native addon is missing (${ADDON}): run \`npm run build\` in ${__dirname}`,
        { cause: error },
      );
    }
    throw error;
  }
}

module.exports = load();
