/**
 * The code of the parse-script worker, as text: `new Worker(source, { eval: true })` runs it the same way under
 * ts-jest and from dist/ (a worker file would have to exist as JavaScript on disk).
 *
 * Inside the worker the product's script runs in a fresh `vm` context: no `require`, `process`, timers or
 * module scope, and no code generation from strings. The worker itself is the time and memory bound: the main
 * thread terminates it when a call overruns (simulator/scripts/sandbox.ts), and `resourceLimits` caps its heap.
 * Outputs are checked here, so that only plain data crosses back (docs/protocol/raw-data.md, "Functions").
 */
export const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const vm = require('node:vm');
const NAMES = ['rawDataToProtocol', 'protocolToRawData', 'transformPayload'];
let fns = {};

function describe(v) {
  try { const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v); return (s === undefined ? String(v) : s).slice(0, 80); }
  catch (e) { return Object.prototype.toString.call(v); }
}

function errorText(e) {
  try { return e && typeof e === 'object' && typeof e.message === 'string' ? e.message : String(e); }
  catch (x) { return 'an unprintable error'; }
}

function toBytes(out) {
  if (!Array.isArray(out) && !ArrayBuffer.isView(out)) return { bad: 'expected an array of integers 0..255, received ' + describe(out) };
  const n = out.length;
  if (!Number.isInteger(n) || n < 0 || n > 262144) return { bad: 'expected an array of at most 262144 bytes, received length ' + describe(n) };
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const b = out[i];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < -128 || b > 255) return { bad: 'element ' + i + ': expected an integer -128..255, received ' + describe(b) };
    bytes[i] = b & 0xff;
  }
  return { value: bytes };
}

function toObject(out) {
  if (typeof out !== 'object' || Array.isArray(out)) return { bad: 'expected a JSON object, received ' + describe(out) };
  let text;
  try { text = JSON.stringify(out); } catch (e) { return { bad: 'expected a JSON object, received one that cannot be serialized (' + errorText(e) + ')' }; }
  return { value: JSON.parse(text) };
}

parentPort.on('message', (m) => {
  if (m.op === 'load') {
    fns = {};
    try {
      const ctx = vm.createContext({}, { codeGeneration: { strings: false, wasm: false } });
      new vm.Script(m.code, { filename: 'script.js' }).runInContext(ctx);
      for (const n of NAMES) if (typeof ctx[n] === 'function') fns[n] = ctx[n];
      parentPort.postMessage({ op: 'loaded', functions: Object.keys(fns) });
    } catch (e) {
      parentPort.postMessage({ op: 'loaded', error: errorText(e) });
    }
    return;
  }
  const f = fns[m.fn];
  if (!f) { parentPort.postMessage({ id: m.id, fail: 'missing', message: m.fn + ' is not defined by the script' }); return; }
  let out;
  try {
    const args = m.fn === 'protocolToRawData' ? [m.arg] : m.fn === 'rawDataToProtocol' ? [Array.from(new Int8Array(m.arg))] : [m.topic, Array.from(new Int8Array(m.arg))];
    out = f.apply(undefined, args);
  } catch (e) {
    parentPort.postMessage({ id: m.id, fail: 'throw', message: errorText(e) });
    return;
  }
  try {
    if (out === undefined || out === null) { parentPort.postMessage({ id: m.id, fail: 'nothing', message: m.fn + ' returned ' + String(out) }); return; }
    const r = m.fn === 'protocolToRawData' ? toBytes(out) : toObject(out);
    if (r.bad !== undefined) parentPort.postMessage({ id: m.id, fail: 'bad', message: m.fn + ': ' + r.bad });
    else parentPort.postMessage({ id: m.id, value: r.value });
  } catch (e) {
    parentPort.postMessage({ id: m.id, fail: 'bad', message: m.fn + ': output could not be read (' + errorText(e) + ')' });
  }
});
`;
