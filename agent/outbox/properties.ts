/**
 * MQTT 5 publish properties to and from the JSON kept in the `props` column. `correlationData` is binary, so it
 * travels as base64.
 */
import type { MessageProperties } from '../transport';

interface StoredProperties {
  responseTopic?: string;
  correlationData?: string;
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
}

/** JSON for the `props` column, or null when there is nothing to keep. */
export function encodeProperties(p: MessageProperties | undefined): string | null {
  if (!p) return null;
  const s: StoredProperties = {};
  if (p.responseTopic !== undefined) s.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) s.correlationData = p.correlationData.toString('base64');
  if (p.userProperties !== undefined) s.userProperties = p.userProperties;
  if (p.contentType !== undefined) s.contentType = p.contentType;
  return Object.keys(s).length === 0 ? null : JSON.stringify(s);
}

/** The properties stored by {@link encodeProperties}. */
export function decodeProperties(json: string | null): MessageProperties | undefined {
  if (json === null) return undefined;
  const s = JSON.parse(json) as StoredProperties;
  const p: MessageProperties = {};
  if (s.responseTopic !== undefined) p.responseTopic = s.responseTopic;
  if (s.correlationData !== undefined) p.correlationData = Buffer.from(s.correlationData, 'base64');
  if (s.userProperties !== undefined) p.userProperties = s.userProperties;
  if (s.contentType !== undefined) p.contentType = s.contentType;
  return p;
}
