#!/usr/bin/env node
// Validates CloudFormation templates against the resource schemas published
// in @aws-cdk/aws-service-spec (the CDK's database of every CloudFormation
// resource type, property, attribute and type definition):
//
//   - the template's sections, parameter types and resource attributes
//     (DependsOn, Condition, DeletionPolicy, ...) are ones CloudFormation has;
//   - every resource type exists;
//   - every property exists, has the right type (recursively through the
//     type definitions, arrays, maps, tags) and one of the allowed values;
//     every required property is present;
//   - every Ref, GetAtt (resource and attribute), Sub variable, condition,
//     mapping and DependsOn target resolves.
//
// Usage: node validate.js TEMPLATE... ; prints one line per problem
// (file: path: message) and exits 1 if there is any, else prints a summary.
'use strict';

const fs = require('node:fs');
const YAML = require('yaml');
const { loadAwsServiceSpecSync } = require('@aws-cdk/aws-service-spec');

// CloudFormation's short-form intrinsics (!Sub, !If, ...), each as a scalar,
// a sequence or a mapping, turned into their long form ({"Fn::Sub": ...}).
const longForm = (name) => (name === 'Ref' || name === 'Condition' ? name : 'Fn::' + name);
const customTags = ['Base64', 'Cidr', 'FindInMap', 'GetAZs', 'ImportValue', 'Join', 'Select', 'Split', 'Sub',
  'If', 'Equals', 'Not', 'And', 'Or', 'Transform', 'ToJsonString', 'Length', 'Ref', 'Condition'].flatMap((name) => [
  { tag: '!' + name, resolve: (v) => ({ [longForm(name)]: v }) },
  { tag: '!' + name, collection: 'seq', resolve: (v) => ({ [longForm(name)]: v.toJSON() }) },
  { tag: '!' + name, collection: 'map', resolve: (v) => ({ [longForm(name)]: v.toJSON() }) },
]).concat([
  // !GetAtt Resource.Attribute.With.Dots: the resource is before the first dot.
  { tag: '!GetAtt', resolve: (v) => ({ 'Fn::GetAtt': [v.split('.')[0], v.split('.').slice(1).join('.')] }) },
  { tag: '!GetAtt', collection: 'seq', resolve: (v) => ({ 'Fn::GetAtt': v.toJSON() }) },
]);

const sections = new Set(['AWSTemplateFormatVersion', 'Description', 'Metadata', 'Parameters', 'Rules', 'Mappings',
  'Conditions', 'Transform', 'Resources', 'Outputs']);
const resourceKeys = new Set(['Type', 'Properties', 'DependsOn', 'Condition', 'DeletionPolicy', 'UpdateReplacePolicy',
  'UpdatePolicy', 'CreationPolicy', 'Metadata']);
const parameterKeys = new Set(['Type', 'Default', 'Description', 'AllowedValues', 'AllowedPattern', 'MinLength',
  'MaxLength', 'MinValue', 'MaxValue', 'NoEcho', 'ConstraintDescription']);
const pseudo = new Set(['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition', 'AWS::Region',
  'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix']);
const scalarParamTypes = new Set(['String', 'Number', 'List<Number>', 'CommaDelimitedList']);
const awsParamType = /^(List<)?AWS::(EC2::(AvailabilityZone::Name|Image::Id|Instance::Id|KeyPair::KeyName|SecurityGroup::GroupName|SecurityGroup::Id|Subnet::Id|Volume::Id|VPC::Id)|Route53::HostedZone::Id)>?$|^AWS::SSM::Parameter::(Name|Value<.+>)$/;

function main(files) {
  if (files.length === 0) {
    console.error('usage: node validate.js TEMPLATE...');
    return 2;
  }
  const db = loadAwsServiceSpecSync();
  let problems = 0;
  let resources = 0;
  for (const file of files) {
    const found = validateFile(db, file);
    resources += found.resources;
    for (const p of found.problems) {
      console.log(`${file}: ${p}`);
      problems++;
    }
  }
  if (problems > 0) {
    console.log(`${problems} problem(s) in ${files.length} template(s)`);
    return 1;
  }
  console.log(`OK: ${files.length} template(s), ${resources} resource(s) valid against @aws-cdk/aws-service-spec`);
  return 0;
}

function validateFile(db, file) {
  const problems = [];
  const add = (path, msg) => problems.push(`${path}: ${msg}`);
  let tpl;
  try {
    const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'), { customTags, uniqueKeys: true, version: '1.1' });
    if (doc.errors.length > 0) {
      return { resources: 0, problems: doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`) };
    }
    tpl = doc.toJSON();
  } catch (e) {
    return { resources: 0, problems: [`YAML: ${e.message.split('\n')[0]}`] };
  }
  if (!isObject(tpl)) {
    return { resources: 0, problems: ['the template is not a mapping'] };
  }
  for (const k of Object.keys(tpl)) {
    if (!sections.has(k)) add(k, 'not a template section');
  }
  const params = tpl.Parameters || {};
  const res = tpl.Resources || {};
  const conditions = tpl.Conditions || {};
  const mappings = tpl.Mappings || {};
  if (Object.keys(res).length === 0) add('Resources', 'required, with at least one resource');

  const ctx = { db, add, params, res, conditions, mappings, typeOf: {} };
  for (const [name, p] of Object.entries(params)) {
    if (!isObject(p)) { add(`Parameters.${name}`, 'must be a mapping'); continue; }
    for (const k of Object.keys(p)) if (!parameterKeys.has(k)) add(`Parameters.${name}.${k}`, 'not a parameter attribute');
    if (!scalarParamTypes.has(p.Type) && !awsParamType.test(p.Type || '')) add(`Parameters.${name}.Type`, `unknown parameter type ${JSON.stringify(p.Type)}`);
    if (p.AllowedValues !== undefined && p.Default !== undefined && !p.AllowedValues.map(String).includes(String(p.Default))) {
      add(`Parameters.${name}.Default`, `${JSON.stringify(p.Default)} is not one of AllowedValues`);
    }
    if (p.AllowedPattern !== undefined && typeof p.Default === 'string' && !new RegExp(`^(?:${p.AllowedPattern})$`).test(p.Default)) {
      add(`Parameters.${name}.Default`, `${JSON.stringify(p.Default)} does not match AllowedPattern`);
    }
  }
  for (const [name, c] of Object.entries(conditions)) checkIntrinsics(ctx, `Conditions.${name}`, c);

  for (const [name, r] of Object.entries(res)) {
    const path = `Resources.${name}`;
    if (params[name] !== undefined) add(path, 'has the same logical id as a parameter');
    if (!isObject(r)) { add(path, 'must be a mapping'); continue; }
    for (const k of Object.keys(r)) if (!resourceKeys.has(k)) add(`${path}.${k}`, 'not a resource attribute');
    if (r.Condition !== undefined && conditions[r.Condition] === undefined) add(`${path}.Condition`, `unknown condition ${r.Condition}`);
    for (const d of [].concat(r.DependsOn || [])) if (res[d] === undefined) add(`${path}.DependsOn`, `unknown resource ${d}`);
    if (typeof r.Type !== 'string') { add(`${path}.Type`, 'required'); continue; }
    if (r.Type.startsWith('Custom::') || r.Type === 'AWS::CloudFormation::CustomResource') continue;
    const spec = db.lookup('resource', 'cloudFormationType', 'equals', r.Type);
    if (spec.length !== 1) { add(`${path}.Type`, `unknown resource type ${r.Type}`); continue; }
    ctx.typeOf[name] = spec[0];
  }
  for (const [name, r] of Object.entries(res)) {
    const spec = ctx.typeOf[name];
    if (!spec) continue;
    const path = `Resources.${name}.Properties`;
    if (r.Properties !== undefined && !isObject(r.Properties)) { add(path, 'must be a mapping'); continue; }
    checkProperties(ctx, path, spec.properties, r.Properties || {}, spec.cloudFormationType);
  }
  for (const [name, o] of Object.entries(tpl.Outputs || {})) {
    if (!isObject(o) || o.Value === undefined) { add(`Outputs.${name}`, 'needs a Value'); continue; }
    if (o.Condition !== undefined && conditions[o.Condition] === undefined) add(`Outputs.${name}.Condition`, `unknown condition ${o.Condition}`);
    checkIntrinsics(ctx, `Outputs.${name}`, o);
  }
  return { resources: Object.keys(res).length, problems };
}

// checkProperties checks a property bag against the schema's property map.
function checkProperties(ctx, path, schema, value, owner) {
  if (isIntrinsic(value)) { checkIntrinsics(ctx, path, value); return; }
  for (const [k, v] of Object.entries(value)) {
    const prop = schema[k];
    if (!prop) { ctx.add(`${path}.${k}`, `${owner} has no property ${k}`); continue; }
    checkValue(ctx, `${path}.${k}`, prop.type, v, prop);
  }
  for (const [k, prop] of Object.entries(schema)) {
    if (prop.required && value[k] === undefined) ctx.add(`${path}.${k}`, `required by ${owner}`);
  }
}

// checkValue checks one value against a PropertyType of the spec.
function checkValue(ctx, path, type, v, prop) {
  if (isIntrinsic(v)) { checkIntrinsics(ctx, path, v); return; }
  const add = ctx.add;
  switch (type.type) {
    case 'string':
    case 'date-time':
      if (!['string', 'number', 'boolean'].includes(typeof v)) add(path, `want a string, got ${describe(v)}`);
      else if (type.allowedValues && !type.allowedValues.includes(String(v))) add(path, `${JSON.stringify(v)} is not one of ${type.allowedValues.join(', ')}`);
      return;
    case 'integer':
    case 'number':
      if (typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !isNaN(Number(v)))) {
        if (type.type === 'integer' && !Number.isInteger(Number(v))) add(path, `want an integer, got ${v}`);
        return;
      }
      add(path, `want a number, got ${describe(v)}`);
      return;
    case 'boolean':
      if (typeof v !== 'boolean' && v !== 'true' && v !== 'false') add(path, `want a boolean, got ${describe(v)}`);
      return;
    case 'json':
      if (!isObject(v) && !Array.isArray(v) && typeof v !== 'string') add(path, `want a JSON object, got ${describe(v)}`);
      else checkIntrinsics(ctx, path, v);
      return;
    case 'null':
      return;
    case 'tag':
      if (!isObject(v)) { add(path, `want a tag {Key, Value}, got ${describe(v)}`); return; }
      checkProperties(ctx, path, { Key: { type: { type: 'string' }, required: true }, Value: { type: { type: 'string' }, required: true } }, v, 'a tag');
      return;
    case 'array':
      if (!Array.isArray(v)) { add(path, `want a list, got ${describe(v)}`); return; }
      v.forEach((e, i) => checkValue(ctx, `${path}[${i}]`, type.element, e, prop));
      return;
    case 'map':
      if (!isObject(v)) { add(path, `want a map, got ${describe(v)}`); return; }
      for (const [k, e] of Object.entries(v)) checkValue(ctx, `${path}.${k}`, type.element, e, prop);
      return;
    case 'ref': {
      const def = ctx.db.get('typeDefinition', type.reference.$ref);
      if (!isObject(v)) { add(path, `want a ${def.name} mapping, got ${describe(v)}`); return; }
      checkProperties(ctx, path, def.properties, v, def.name);
      return;
    }
    case 'union': {
      // Accept the value when any member type accepts it.
      for (const t of type.types) {
        const sub = { ...ctx, add: (p, m) => { sub.failed = true; } };
        sub.failed = false;
        checkValue(sub, path, t, v, prop);
        if (!sub.failed) { checkIntrinsics(ctx, path, v); return; }
      }
      add(path, `${describe(v)} matches none of its ${type.types.length} allowed types`);
      return;
    }
    default:
      add(path, `the spec has an unknown type ${JSON.stringify(type.type)} here`);
  }
}

// checkIntrinsics walks a value and checks every intrinsic's references.
function checkIntrinsics(ctx, path, v, locals) {
  if (Array.isArray(v)) { v.forEach((e, i) => checkIntrinsics(ctx, `${path}[${i}]`, e, locals)); return; }
  if (!isObject(v)) return;
  const keys = Object.keys(v);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::') || keys[0] === 'Condition')) {
    checkIntrinsic(ctx, path, keys[0], v[keys[0]], locals);
    return;
  }
  for (const [k, e] of Object.entries(v)) checkIntrinsics(ctx, `${path}.${k}`, e, locals);
}

function checkIntrinsic(ctx, path, fn, arg, locals) {
  const { add, params, res, conditions, mappings } = ctx;
  switch (fn) {
    case 'Ref':
      if (typeof arg !== 'string') add(path, 'Ref takes a name');
      else if (!pseudo.has(arg) && params[arg] === undefined && res[arg] === undefined && !(locals && locals.has(arg))) add(path, `Ref to unknown ${arg}`);
      return;
    case 'Condition':
      if (conditions[arg] === undefined) add(path, `unknown condition ${arg}`);
      return;
    case 'Fn::GetAtt': {
      if (!Array.isArray(arg) || arg.length !== 2) { add(path, 'GetAtt takes [Resource, Attribute]'); return; }
      const [r, a] = arg;
      if (res[r] === undefined) { add(path, `GetAtt of unknown resource ${r}`); return; }
      const spec = ctx.typeOf[r];
      if (spec && typeof a === 'string' && spec.attributes[a] === undefined) {
        add(path, `${spec.cloudFormationType} has no attribute ${a} (it has ${Object.keys(spec.attributes).join(', ') || 'none'})`);
      }
      checkIntrinsics(ctx, path, a, locals);
      return;
    }
    case 'Fn::Sub': {
      const [text, vars] = Array.isArray(arg) ? arg : [arg, {}];
      if (typeof text !== 'string') { add(path, 'Sub takes a string'); return; }
      const names = new Set(Object.keys(vars || {}));
      for (const m of text.matchAll(/\$\{([^!}][^}]*)\}/g)) {
        const name = m[1].trim();
        if (names.has(name) || pseudo.has(name)) continue;
        const [head, ...rest] = name.split('.');
        if (rest.length > 0 && res[head] !== undefined) {
          checkIntrinsic(ctx, path, 'Fn::GetAtt', [head, rest.join('.')], locals);
        } else if (params[name] === undefined && res[name] === undefined) {
          add(path, `Sub variable \${${name}} resolves to nothing`);
        }
      }
      checkIntrinsics(ctx, path, vars, locals);
      return;
    }
    case 'Fn::If':
      if (!Array.isArray(arg) || arg.length !== 3) { add(path, 'If takes [Condition, ValueIfTrue, ValueIfFalse]'); return; }
      if (conditions[arg[0]] === undefined) add(path, `If on unknown condition ${arg[0]}`);
      checkIntrinsics(ctx, path, arg.slice(1), locals);
      return;
    case 'Fn::FindInMap':
      if (!Array.isArray(arg) || arg.length !== 3) { add(path, 'FindInMap takes [Map, TopKey, SecondKey]'); return; }
      if (typeof arg[0] === 'string' && mappings[arg[0]] === undefined) add(path, `FindInMap on unknown mapping ${arg[0]}`);
      checkIntrinsics(ctx, path, arg, locals);
      return;
    case 'Fn::Equals': case 'Fn::Not': case 'Fn::And': case 'Fn::Or':
      if (!Array.isArray(arg)) add(path, `${fn.slice(4)} takes a list`);
      checkIntrinsics(ctx, path, arg, locals);
      return;
    case 'Fn::Join': case 'Fn::Select': case 'Fn::Split': case 'Fn::Cidr': case 'Fn::GetAZs': case 'Fn::Base64':
    case 'Fn::ImportValue': case 'Fn::Length': case 'Fn::ToJsonString':
      checkIntrinsics(ctx, path, arg, locals);
      return;
    default:
      add(path, `unknown intrinsic function ${fn}`);
  }
}

function isObject(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }

function isIntrinsic(v) {
  if (!isObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'));
}

function describe(v) {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (isObject(v)) return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

process.exitCode = main(process.argv.slice(2));
