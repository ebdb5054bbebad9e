/** Remote configuration's error table (docs/protocol/remote-config.md); every message names the field, expected and received. */
import { AlinkCodes } from '../../thing-model/codes';

export type RemoteConfigErrorCode = 'REMOTE_CONFIG_INVALID' | 'REMOTE_CONFIG_TOO_LARGE' | 'REMOTE_CONFIG_DOWNLOAD_FAILED' | 'REMOTE_CONFIG_DIGEST_MISMATCH' | 'REMOTE_CONFIG_APPLY_FAILED';

/** A configuration file the agent did not hand to the plugin, or the plugin refused; `alinkCode` is what the push is answered with. */
export class RemoteConfigError extends Error {
  override readonly name = 'RemoteConfigError';
  constructor(
    readonly code: RemoteConfigErrorCode,
    message: string,
    readonly alinkCode: number,
  ) {
    super(message);
  }
}

export const RemoteConfigErrors = {
  invalid: (field: string, expected: string, received: unknown) =>
    new RemoteConfigError('REMOTE_CONFIG_INVALID', `${field}: expected ${expected}, received ${shown(received)}`, AlinkCodes.PARAM_ERROR),
  tooLarge: (size: number, max: number) =>
    new RemoteConfigError('REMOTE_CONFIG_TOO_LARGE', `configSize: expected at most ${max} bytes (remoteConfig.maxBytes), received ${size}`, AlinkCodes.PARAM_ERROR),
  downloadFailed: (url: string, why: string) => new RemoteConfigError('REMOTE_CONFIG_DOWNLOAD_FAILED', `url: download of ${hostOf(url)} failed: ${why}`, AlinkCodes.REQUEST_ERROR),
  digestMismatch: (expected: string, received: string) =>
    new RemoteConfigError('REMOTE_CONFIG_DIGEST_MISMATCH', `sign: expected the SHA-256 of the file, ${received}, received ${expected}`, AlinkCodes.PARAM_ERROR),
  applyFailed: (plugin: string, why: string) => new RemoteConfigError('REMOTE_CONFIG_APPLY_FAILED', `plugin "${plugin}" refused the configuration: ${why}`, AlinkCodes.REQUEST_ERROR),
};

function shown(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Signed URLs carry their signature in the query: only the host goes into messages and logs. */
export function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}
