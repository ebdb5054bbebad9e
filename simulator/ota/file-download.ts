/**
 * The MQTT block download's wire format (docs/protocol/ota-platform.md, "MQTT download"): the answer on
 * `thing/file/download_reply` is binary — 2 bytes (big-endian) of header length, the JSON header
 * `{id, code, data:{bSize, bOffset, fileLength, fileToken}}`, the block, and a CRC-16/ARC of the block. LinkSDK
 * reads the CRC in its host byte order, little-endian on its targets, so it is sent little-endian (**policy**).
 * An error answer is the length and the header alone.
 */

/** The largest block served, whatever the device asks (LinkSDK asks 5 KB by default). */
export const MAX_BLOCK_BYTES = 64 * 1024;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  return c;
});

/** CRC-16/ARC (poly 0x8005 reflected, init 0): the check value of "123456789" is 0xBB3D. */
export function crc16(data: Buffer): number {
  let crc = 0;
  for (const b of data) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ b) & 0xff]!;
  return crc;
}

export function encodeBlockReply(header: Record<string, unknown>, block?: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(2);
  len.writeUInt16BE(json.length);
  if (!block) return Buffer.concat([len, json]);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16(block));
  return Buffer.concat([len, json, block, crc]);
}

/**
 * A JSON object, tolerating the trailing commas LinkSDK's download request carries (`"fileId":F,}`); undefined
 * for anything else.
 */
export function parseLenientJson(payload: Buffer): Record<string, unknown> | undefined {
  const text = payload.toString('utf8');
  for (const t of [text, text.replace(/,(\s*[}\]])/g, '$1')]) {
    try {
      const v = JSON.parse(t) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      // try the lenient form
    }
  }
  return undefined;
}
