/**
 * A parse script for the example gateway as a custom-format product, and the device side of the same byte format
 * (the test plugin of the raw end-to-end tests, and bench/raw.ts's baseline).
 *
 * Frames: byte 0 = kind, bytes 1..4 = the Alink id (uint32, big-endian), then fields.
 *   0x01 property set (cloud → device), 0x02 property post (device → cloud): fields as tag + value
 *     0x10 ReportInterval uint16, 0x11 WorkMode uint8, 0x12 AlarmEnable uint8, 0x13 TempAlarmThreshold int16 × 10
 *   0x81 reply (either way): uint16 code
 *   0x03 service call Reboot (cloud → device): uint16 DelaySeconds
 *   0x04 sync service Calibrate (cloud → device): uint8 Sensor; answered by 0x84: uint16 code, int16 Offset × 10
 */
export const RAW_SCRIPT = String.raw`
var FIELDS = [['ReportInterval', 0x10, 2, 1], ['WorkMode', 0x11, 1, 1], ['AlarmEnable', 0x12, 1, 1], ['TempAlarmThreshold', 0x13, 2, 10]];
function u(b) { return b & 0xff; }
function put(out, v, n) { for (var i = n - 1; i >= 0; i--) out.push((v >> (8 * i)) & 0xff); }
function get(bytes, at, n) { var v = 0; for (var i = 0; i < n; i++) v = v * 256 + u(bytes[at + i]); return v; }
function protocolToRawData(json) {
  var out = [];
  var id = parseInt(json.id, 10) >>> 0;
  if (json.method === 'thing.service.property.set') {
    out.push(0x01); put(out, id, 4);
    for (var i = 0; i < FIELDS.length; i++) {
      var f = FIELDS[i];
      if (json.params[f[0]] !== undefined) { out.push(f[1]); put(out, Math.round(json.params[f[0]] * f[3]) & 0xffff, f[2]); }
    }
    return out;
  }
  if (json.method === 'thing.service.Reboot') { out.push(0x03); put(out, id, 4); put(out, json.params.DelaySeconds, 2); return out; }
  if (json.method === 'thing.service.Calibrate') { out.push(0x04); put(out, id, 4); out.push(json.params.Sensor & 0xff); return out; }
  out.push(0x81); put(out, id, 4); put(out, json.code, 2);
  return out;
}
function rawDataToProtocol(bytes) {
  var kind = u(bytes[0]);
  var id = String(get(bytes, 1, 4));
  if (kind === 0x81) return { id: id, code: get(bytes, 5, 2), data: {} };
  if (kind === 0x84) { var o = get(bytes, 7, 2); if (o > 0x7fff) o -= 0x10000; return { id: id, code: get(bytes, 5, 2), data: { Success: 1, Offset: o / 10 } }; }
  if (kind === 0x02) {
    var params = {};
    for (var at = 5; at < bytes.length;) {
      var tag = u(bytes[at]);
      for (var i = 0; i < FIELDS.length; i++) {
        var f = FIELDS[i];
        if (f[1] === tag) { var v = get(bytes, at + 1, f[2]); if (f[3] !== 1 && v > 0x7fff) v -= 0x10000; params[f[0]] = v / f[3]; at += 1 + f[2]; break; }
      }
      if (i === FIELDS.length) break;
    }
    return { id: id, version: '1.0', method: 'thing.event.property.post', params: params };
  }
  return { id: id, version: '1.0', params: {} };
}
function transformPayload(topic, bytes) {
  var s = '';
  for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(u(bytes[i]));
  return { topic: topic, text: s, length: bytes.length };
}
`;

/** What the device receives: a decoded frame. */
export type RawFrame =
  | { kind: 'set'; id: number; values: Record<string, number> }
  | { kind: 'reboot'; id: number; delaySeconds: number }
  | { kind: 'calibrate'; id: number; sensor: number }
  | { kind: 'reply'; id: number; code: number } | { kind: 'other'; id: number };

const FIELDS: [string, number, number, number][] = [
  ['ReportInterval', 0x10, 2, 1],
  ['WorkMode', 0x11, 1, 1],
  ['AlarmEnable', 0x12, 1, 1],
  ['TempAlarmThreshold', 0x13, 2, 10],
];

export function decodeFrame(b: Buffer): RawFrame {
  const id = b.readUInt32BE(1);
  if (b[0] === 0x81) return { kind: 'reply', id, code: b.readUInt16BE(5) };
  if (b[0] === 0x03) return { kind: 'reboot', id, delaySeconds: b.readUInt16BE(5) };
  if (b[0] === 0x04) return { kind: 'calibrate', id, sensor: b[5]! };
  if (b[0] !== 0x01) return { kind: 'other', id };
  const values: Record<string, number> = {};
  for (let at = 5; at < b.length; ) {
    const f = FIELDS.find((x) => x[1] === b[at]);
    if (!f) break;
    let v = f[2] === 2 ? b.readUInt16BE(at + 1) : b[at + 1]!;
    if (f[3] !== 1 && v > 0x7fff) v -= 0x10000;
    values[f[0]] = v / f[3];
    at += 1 + f[2];
  }
  return { kind: 'set', id, values };
}

export function replyFrame(id: number, code: number): Buffer {
  const b = Buffer.alloc(7);
  b[0] = 0x81;
  b.writeUInt32BE(id >>> 0, 1);
  b.writeUInt16BE(code, 5);
  return b;
}

export function postFrame(id: number, values: Record<string, number>): Buffer {
  const parts: number[] = [0x02, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff];
  for (const f of FIELDS) {
    const v = values[f[0]];
    if (v === undefined) continue;
    const n = Math.round(v * f[3]) & 0xffff;
    parts.push(f[1], ...(f[2] === 2 ? [n >> 8, n & 0xff] : [n & 0xff]));
  }
  return Buffer.from(parts);
}

/** The device's answer to Calibrate: code and offset. */
export function calibrateReplyFrame(id: number, code: number, offset: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = 0x84;
  b.writeUInt32BE(id >>> 0, 1);
  b.writeUInt16BE(code, 5);
  b.writeInt16BE(Math.round(offset * 10), 7);
  return b;
}
