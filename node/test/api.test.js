'use strict';
// The hand-written declarations match the module: every exported value is
// declared in index.d.ts and every declared value is exported.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const refundkit = require('..');

test('index.d.ts declares exactly the values index.js exports', () => {
  const declarations = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');
  const declared = [...declarations.matchAll(/^export (?:class|function|const) (\w+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(Object.keys(refundkit).sort(), declared);
});

test('the declared error classes form the hierarchy the module has', () => {
  const declarations = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');
  for (const [, name, parent] of declarations.matchAll(/^export class (\w+) extends (\w+)/gm)) {
    const ParentClass = parent === 'Error' ? Error : refundkit[parent];
    assert.equal(Object.getPrototypeOf(refundkit[name]), ParentClass, `${name} extends ${parent}`);
  }
});
