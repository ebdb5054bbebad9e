/**
 * The official cloud SDK (`@alicloud/iot20180120`, a dev dependency) pointed at a running simulator; used by the
 * demo, the benchmark and the tests. Not used by the simulator itself.
 */
import Iot from '@alicloud/iot20180120';
import { Config } from '@alicloud/openapi-client';
import { RuntimeOptions } from '@alicloud/tea-util';

export interface SdkClientOptions {
  accessKeyId?: string;
  accessKeySecret?: string;
  /** 'v2' selects the legacy HMAC-SHA1 `Signature` parameter; default ACS3-HMAC-SHA256. */
  signatureAlgorithm?: 'v2';
  /** Both default to 3000 ms in the SDK (docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: timeouts"). */
  readTimeout?: number;
  connectTimeout?: number;
}

export function createIotClient(httpUrl: string, opts: SdkClientOptions = {}): Iot {
  const url = new URL(httpUrl);
  return new Iot(
    new Config({
      accessKeyId: opts.accessKeyId ?? 'testAK',
      accessKeySecret: opts.accessKeySecret ?? 'testSecret',
      regionId: 'cn-shanghai',
      endpoint: url.host,
      protocol: 'HTTP',
      ...(opts.signatureAlgorithm ? { signatureAlgorithm: opts.signatureAlgorithm } : {}),
      ...(opts.readTimeout ? { readTimeout: opts.readTimeout } : {}),
      ...(opts.connectTimeout ? { connectTimeout: opts.connectTimeout } : {}),
    }),
  );
}

/**
 * Runtime options for calls that wait on a device (RRpc up to 8000 ms, sync services): the SDK's idle timeout
 * is its connectTimeout, so both must be raised (docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: timeouts").
 */
export function longCallRuntime(ms = 10_000): RuntimeOptions {
  return new RuntimeOptions({ readTimeout: ms, connectTimeout: ms });
}
