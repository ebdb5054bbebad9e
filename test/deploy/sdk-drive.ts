/**
 * The official cloud SDK as a command, for the deployment tests that must call the simulator from inside another
 * network namespace (nsenter -n runs this file; a jest worker cannot change its own namespace):
 *
 *   node -r ./test/helpers/ts-register.js test/deploy/sdk-drive.ts HTTP_URL status
 *   node -r ./test/helpers/ts-register.js test/deploy/sdk-drive.ts HTTP_URL set '{"ReportInterval":120}'
 *
 * `set` calls SetDeviceProperty, then polls QueryDevicePropertyStatus (up to 15 s) until every value shows there
 * (the agent applied the set, answered 200 and posted the new state). Prints one JSON line; exit 1 on failure.
 */
import * as $Iot from '@alicloud/iot20180120';
import { createIotClient } from '../../simulator/sdk-client';

const DEVICE = { productKey: 'a1GwDemo01', deviceName: 'gw-001' };

async function main(): Promise<unknown> {
  const [url, action, arg] = process.argv.slice(2);
  if (!url || !action) throw new Error('usage: sdk-drive.ts HTTP_URL status|set ITEMS_JSON');
  const iot = createIotClient(url);
  if (action === 'status') {
    const r = await iot.getDeviceStatus(new $Iot.GetDeviceStatusRequest(DEVICE));
    return { status: r.body.data?.status };
  }
  if (action === 'set') {
    const items = JSON.parse(arg ?? '{}') as Record<string, unknown>;
    const set = await iot.setDeviceProperty(new $Iot.SetDevicePropertyRequest({ ...DEVICE, items: JSON.stringify(items) }));
    if (!set.body.success) throw new Error(`SetDeviceProperty failed: ${set.body.code} ${set.body.errorMessage}`);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const q = await iot.queryDevicePropertyStatus(new $Iot.QueryDevicePropertyStatusRequest(DEVICE));
      const shown = Object.fromEntries((q.body.data?.list?.propertyStatusInfo ?? []).map((p) => [p.identifier, p.value]));
      if (Object.entries(items).every(([k, v]) => shown[k] === String(v))) return { messageId: set.body.data?.messageId, shown: Object.fromEntries(Object.keys(items).map((k) => [k, shown[k]])) };
      if (Date.now() > deadline) throw new Error(`QueryDevicePropertyStatus does not show ${JSON.stringify(items)} after 15 s: ${JSON.stringify(shown)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`unknown action ${action}`);
}

main().then(
  (out) => {
    console.log(JSON.stringify(out));
    process.exit(0);
  },
  (err: unknown) => {
    console.log(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    process.exit(1);
  },
);
