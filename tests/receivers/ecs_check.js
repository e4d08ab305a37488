// Checks ECS documents against the official ECS field set of @elastic/ecs (EcsFlat).
//
// Reads one JSON document per line from the files named (or stdin). Every field outside the
// custom `keytrail` namespace must be an ECS field, with a value of the field's type
// (keyword: string, long: integer, date: ISO 8601 string, ip: an IP address, ...), within
// the field's allowed values (event.kind, event.category, ...), and an array where ECS
// normalizes the field to one. `keytrail` itself must not be an ECS field set.
// Prints `ok N ECS_VERSION` when every document passes; otherwise one line per problem and
// exits with 1. Run with NODE_PATH pointing at the node_modules that hold @elastic/ecs.
// Used by tests/it/siem_receivers.rs.
'use strict';
const fs = require('fs');
const net = require('net');
const { EcsFlat, EcsVersion } = require('@elastic/ecs');

const CUSTOM = 'keytrail';
const problems = [];
let documents = 0;

for (const name of Object.keys(EcsFlat)) {
  if (name === CUSTOM || name.startsWith(CUSTOM + '.')) {
    problems.push(`${name}: the custom namespace ${CUSTOM} is an ECS field`);
  }
}

/** True when `v` fits ECS type `type`. */
function fits(type, v) {
  switch (type) {
    case 'keyword': case 'constant_keyword': case 'wildcard': case 'text':
    case 'match_only_text':
      return typeof v === 'string';
    case 'long': case 'integer': case 'short': case 'byte': case 'unsigned_long':
      return Number.isInteger(v);
    case 'float': case 'half_float': case 'scaled_float': case 'double':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'date':
      return typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v)
        && !Number.isNaN(Date.parse(v));
    case 'ip':
      return typeof v === 'string' && net.isIP(v) !== 0;
    case 'object': case 'flattened': case 'nested':
      return typeof v === 'object' && v !== null;
    default:
      return false;
  }
}

/** Checks one field's value against its ECS definition. */
function checkField(where, path, value) {
  const def = EcsFlat[path];
  if (!def) {
    problems.push(`${where}: ${path} is not an ECS ${EcsVersion} field`);
    return;
  }
  const isArray = Array.isArray(value);
  if ((def.normalize || []).includes('array') && !isArray) {
    problems.push(`${where}: ${path} must be an array (ECS normalizes it to one)`);
  }
  const values = isArray ? value : [value];
  for (const v of values) {
    if (!fits(def.type, v)) {
      problems.push(`${where}: ${path} = ${JSON.stringify(v)} is not of ECS type ${def.type}`);
    }
    if (def.allowed_values && !def.allowed_values.some((a) => a.name === v)) {
      problems.push(`${where}: ${path} = ${JSON.stringify(v)} is not one of its allowed values`);
    }
  }
}

/** Walks a document, checking each leaf (or object-typed field) it reaches. */
function walk(where, prefix, obj) {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (!prefix && k === CUSTOM) continue;
    const def = EcsFlat[path];
    const leafType = def && ['object', 'flattened', 'nested'].includes(def.type);
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !leafType && !def) {
      walk(where, path, v);
    } else if (v === null) {
      problems.push(`${where}: ${path} is null (leave the field out instead)`);
    } else {
      checkField(where, path, v);
    }
  }
}

const files = process.argv.slice(2);
const text = files.length ? files.map((f) => fs.readFileSync(f, 'utf8')).join('\n') : fs.readFileSync(0, 'utf8');
text.split('\n').forEach((line, i) => {
  if (!line.trim()) return;
  documents += 1;
  walk(`line ${i + 1}`, '', JSON.parse(line));
});
if (problems.length) {
  problems.forEach((p) => console.log(p));
  process.exit(1);
}
console.log(`ok ${documents} ${EcsVersion}`);
