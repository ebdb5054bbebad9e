/**
 * The TSL-aware serializer. float/double values must carry a decimal point on the wire (`10.0`, not `10`;
 * docs/protocol/payloads.md, "Property post"), which JSON.stringify cannot do. Per model, this precompiles one writer per property,
 * service output and event output that contains a float or double anywhere; everything else goes through
 * JSON.stringify unchanged, so the cost is paid only where floats sit. Like JSON.stringify, a writer throws on
 * what JSON cannot hold at all (cycles, BigInt); envelopes are built by the agent, so that is a programming error.
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
      if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
      const slot = slots.get(k);
      if (slot !== undefined) {
        const text = slot.write(v[k]);
        if (text !== undefined) s += `,${slot.quoted}:${text}`;
      } else {
        const text = JSON.stringify(v[k]);
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

/** True when a value holds an integral float somewhere, the only thing JSON.stringify writes wrong. */
type Probe = (v: unknown) => boolean;

/**
 * The probe of a data type, or undefined when it holds no float. Probes may say yes too often (the writer is
 * then merely slower), never too rarely.
 */
function typeProbe(dt: DataType): Probe | undefined {
  switch (dt.type) {
    case 'float':
    case 'double':
      return (v) => typeof v === 'number' && Number.isInteger(v);
    case 'struct':
      return membersProbe(dt.specs);
    case 'array': {
      const item = typeProbe(dt.specs.item);
      if (!item) return undefined;
      return (v) => Array.isArray(v) && v.some(item);
    }
    default:
      return undefined;
  }
}

function membersProbe(members: ParamDef[]): Probe | undefined {
  // Arrays and an index: this runs once per reply, often before V8 optimised it, where a Map's entry iterator
  // and the destructuring of each entry cost more than the probes themselves.
  const keys: string[] = [];
  const fns: Probe[] = [];
  for (const m of members) {
    const p = typeProbe(m.dataType);
    if (p) {
      keys.push(m.identifier);
      fns.push(p);
    }
  }
  if (keys.length === 0) return undefined;
  return (v) => {
    if (!isPlainData(v)) return false;
    for (let i = 0; i < keys.length; i++) if ((fns[i] as Probe)(v[keys[i] as string])) return true;
    return false;
  };
}

/** A post value may also be `{value, time}`: probe both readings. */
function timedProbe(p: Probe): Probe {
  return (v) => p(v) || (isPlainData(v) && p(v.value));
}

/** A property post value: bare, or `{value, time}` whose `value` gets the property's writer. */
function timedWriter(w: Writer, isStruct: boolean, memberIds: ReadonlySet<string>): Writer {
  const slots = new Map<string, Writer>();
  slots.set('value', w);
  slots.set('time', numberWriter);
  const wrapper = objectWriter(slots);
  return (v) => {
    if (!isPlainData(v) || !Object.prototype.hasOwnProperty.call(v, 'value')) return w(v);
    for (const k in v) if (k !== 'value' && k !== 'time') return w(v);
    // A struct whose own members are named value/time is written as the struct itself.
    if (isStruct && memberIds.has('value') && Object.keys(v).every((k) => memberIds.has(k))) return w(v);
    return wrapper(v);
  };
}

/** Alink envelope fields (docs/protocol/payloads.md, "Request" and "Reply"); their keys are quoted once, up front. */
const ENVELOPE_KEYS = ['id', 'version', 'sys', 'params', 'method', 'code', 'data', 'message'];

/** Writes an envelope, handing the one float-bearing key (`params` or `data`) to `inner`. */
function envelopeWriter(key: string, inner: Writer): (envelope: object) => string {
  const slots = new Map<string, Writer>(ENVELOPE_KEYS.map((k) => [k, stringifyValue]));
  slots.set(key, inner);
  const w = objectWriter(slots);
  return (envelope) => w(envelope) ?? 'null';
}

/**
 * The serializers of one model. Integral floats are what JSON.stringify gets wrong, and most posts carry none
 * (21.37 prints fine), so each serializer first probes the float positions and hands the envelope to the native
 * JSON.stringify when nothing needs a ".0"; only otherwise does the precompiled writer run.
 */
export class ModelSerializer {
  private readonly post: (envelope: object) => string;
  private readonly events = new Map<string, (envelope: object) => string>();
  private readonly replies = new Map<string, (envelope: object) => string>();

  constructor(model: ThingModel) {
    const writers = new Map<string, Writer>();
    const probes = new Map<string, Probe>();
    for (const p of model.properties) {
      const probe = typeProbe(p.dataType);
      if (!probe) {
        // Properties without floats get a slot too, for the quoted key and the cheaper number writer.
        writers.set(p.identifier, anyWriter(p.dataType));
        continue;
      }
      probes.set(p.identifier, timedProbe(probe));
      const ids = new Set(p.dataType.type === 'struct' ? p.dataType.specs.map((m) => m.identifier) : []);
      writers.set(p.identifier, timedWriter(typeWriter(p.dataType) as Writer, p.dataType.type === 'struct', ids));
    }
    if (probes.size === 0) this.post = stringifyEnvelope;
    else {
      const write = envelopeWriter('params', objectWriter(writers));
      const probeParams = keyedProbe(probes);
      this.post = (e) => (probeParams((e as { params?: unknown }).params) ? write(e) : stringifyEnvelope(e));
    }
    for (const ev of model.events) {
      const probe = membersProbe(ev.outputData);
      const w = membersWriter(ev.outputData);
      if (!probe || !w) continue;
      const write = envelopeWriter('params', objectWriter(new Map([['value', w]])));
      this.events.set(ev.identifier, (e) => {
        const params = (e as { params?: unknown }).params;
        return isPlainData(params) && probe(params.value) ? write(e) : stringifyEnvelope(e);
      });
    }
    for (const sv of model.services) {
      const probe = membersProbe(sv.outputData);
      const w = membersWriter(sv.outputData);
      if (!probe || !w) continue;
      const write = envelopeWriter('data', w);
      this.replies.set(sv.identifier, (e) => (probe((e as { data?: unknown }).data) ? write(e) : stringifyEnvelope(e)));
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

/** Probes the float-bearing keys of an object of properties. */
function keyedProbe(probes: ReadonlyMap<string, Probe>): Probe {
  return (v) => {
    if (!isPlainData(v)) return false;
    for (const k in v) {
      const p = probes.get(k);
      if (p !== undefined && p(v[k])) return true;
    }
    return false;
  };
}

/** Envelopes with nothing float-typed inside; `?? 'null'` keeps the return a string even for odd input. */
function stringifyEnvelope(envelope: object): string {
  return JSON.stringify(envelope) ?? 'null';
}
