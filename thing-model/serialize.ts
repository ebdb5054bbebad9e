/**
 * The TSL-aware serializer. float/double values must carry a decimal point on the wire (`10.0`, not `10`;
 * alink-protocol.md §3.4), which JSON.stringify cannot do. Per model, this precompiles one writer per property,
 * service output and event output that contains a float or double anywhere; everything else goes through
 * JSON.stringify unchanged, so the cost is paid only where floats sit.
 */
import type { DataType, ParamDef, ThingModel } from './types';

/** Writes one value as JSON; undefined (like JSON.stringify) for values JSON cannot hold. */
type Writer = (v: unknown) => string | undefined;

/** JSON text of a number that keeps it a float: `10` → `10.0`, `1e+21` → `1.0e+21`; non-finite → null. */
export function floatText(n: number): string {
  if (!Number.isFinite(n)) return 'null';
  const s = String(n);
  if (!Number.isInteger(n)) return s;
  const e = s.indexOf('e');
  if (e < 0) return `${s}.0`;
  return s.indexOf('.') >= 0 ? s : `${s.slice(0, e)}.0${s.slice(e)}`;
}

const floatWriter: Writer = (v) => (typeof v === 'number' ? floatText(v) : JSON.stringify(v));

/** True for plain data objects (not Dates, Buffers or anything with its own toJSON). */
function isPlainData(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** A member of an object writer: its key already quoted, and its value writer. */
interface Slot {
  quoted: string;
  write: Writer;
}

/**
 * An object written key by key in its own order: known keys use their slot (quoted key precomputed), others
 * JSON.stringify; members whose value JSON cannot hold are skipped, as JSON.stringify does.
 */
function objectWriter(writers: ReadonlyMap<string, Writer>): Writer {
  const slots = new Map<string, Slot>();
  for (const [k, write] of writers) slots.set(k, { quoted: JSON.stringify(k), write });
  return (v) => {
    if (!isPlainData(v)) return JSON.stringify(v);
    let s = '';
    for (const k in v) {
      const slot = slots.get(k);
      let text: string | undefined;
      if (slot !== undefined) {
        text = slot.write(v[k]);
        if (text !== undefined) s += `,${slot.quoted}:${text}`;
      } else if (Object.prototype.hasOwnProperty.call(v, k)) {
        text = JSON.stringify(v[k]);
        if (text !== undefined) s += `,${JSON.stringify(k)}:${text}`;
      }
    }
    return s === '' ? '{}' : `{${s.slice(1)}}`;
  };
}

/** Numbers of non-float types: String() is what JSON.stringify writes for a finite number, only cheaper. */
const numberWriter: Writer = (v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : JSON.stringify(v));

/** The writer of a member inside an object that has floats somewhere: floats specialised, the rest plain. */
function anyWriter(dt: DataType): Writer {
  const w = typeWriter(dt);
  if (w) return w;
  return dt.type === 'int' || dt.type === 'bool' || dt.type === 'enum' ? numberWriter : stringifyValue;
}

const stringifyValue: Writer = (v) => JSON.stringify(v);

/** The writer of a data type, or undefined when JSON.stringify already writes it right (no float inside). */
function typeWriter(dt: DataType): Writer | undefined {
  switch (dt.type) {
    case 'float':
    case 'double':
      return floatWriter;
    case 'struct':
      return membersWriter(dt.specs);
    case 'array': {
      const item = typeWriter(dt.specs.item);
      if (!item) return undefined;
      return (v) => {
        if (!Array.isArray(v)) return JSON.stringify(v);
        let s = '[';
        for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + (item(v[i]) ?? 'null');
        return s + ']';
      };
    }
    default:
      return undefined;
  }
}

/** An object of members (struct value, service output, event output); undefined when no member has a float. */
function membersWriter(members: ParamDef[]): Writer | undefined {
  if (!members.some((m) => typeWriter(m.dataType))) return undefined;
  return objectWriter(new Map(members.map((m) => [m.identifier, anyWriter(m.dataType)])));
}

/** A property post value: bare, or `{value, time}` whose `value` gets the property's writer. */
function timedWriter(w: Writer, isStruct: boolean, memberIds: ReadonlySet<string>): Writer {
  const wrapper = objectWriter(new Map([
    ['value', w],
    ['time', numberWriter],
  ]));
  return (v) => {
    if (!isPlainData(v) || !Object.prototype.hasOwnProperty.call(v, 'value')) return w(v);
    for (const k in v) if (k !== 'value' && k !== 'time') return w(v);
    // A struct whose own members are named value/time is written as the struct itself.
    if (isStruct && memberIds.has('value') && Object.keys(v).every((k) => memberIds.has(k))) return w(v);
    return wrapper(v);
  };
}

/** Writes an envelope, handing the one float-bearing key (`params` or `data`) to `inner`. */
function envelopeWriter(key: string, inner: Writer): (envelope: object) => string {
  const w = objectWriter(new Map([[key, inner]]));
  return (envelope) => w(envelope) ?? 'null';
}

/** The serializers of one model. */
export class ModelSerializer {
  private readonly post: (envelope: object) => string;
  private readonly events = new Map<string, (envelope: object) => string>();
  private readonly replies = new Map<string, (envelope: object) => string>();

  constructor(model: ThingModel) {
    const props = new Map<string, Writer>();
    for (const p of model.properties) {
      const ids = new Set(p.dataType.type === 'struct' ? p.dataType.specs.map((m) => m.identifier) : []);
      props.set(p.identifier, timedWriter(anyWriter(p.dataType), p.dataType.type === 'struct', ids));
    }
    const anyFloat = model.properties.some((p) => typeWriter(p.dataType));
    this.post = anyFloat ? envelopeWriter('params', objectWriter(props)) : stringifyEnvelope;
    for (const e of model.events) {
      const w = membersWriter(e.outputData);
      if (w) this.events.set(e.identifier, envelopeWriter('params', objectWriter(new Map([['value', w]]))));
    }
    for (const s of model.services) {
      const w = membersWriter(s.outputData);
      if (w) this.replies.set(s.identifier, envelopeWriter('data', w));
    }
  }

  propertyPost(envelope: object): string {
    return this.post(envelope);
  }
  eventPost(eventId: string, envelope: object): string {
    return (this.events.get(eventId) ?? stringifyEnvelope)(envelope);
  }
  serviceReply(serviceId: string, envelope: object): string {
    return (this.replies.get(serviceId) ?? stringifyEnvelope)(envelope);
  }
}

/** Envelopes with nothing float-typed inside; `?? 'null'` keeps the return a string even for odd input. */
function stringifyEnvelope(envelope: object): string {
  return JSON.stringify(envelope) ?? 'null';
}
