/**
 * Check 3: the gateway's sub-devices (docs/protocol/gateway.md): each product's Thing Model loads, compiles with its
 * options and describes that product; the configured count fits the platform's limits; how each secret is given
 * (never the secret). Skipped when no sub-device and no sub-device product is configured.
 */
import { compileThingModel, loadThingModelFile, TslError } from '../../thing-model';
import { SUB_DEVICES_ONLINE_MAX } from '../../thing-model/wire';
import type { AgentConfig } from '../config/load';
import { fail, ok, skip, warn, type Finding } from './report';

export function checkSubDevices(config: Pick<AgentConfig, 'gateway' | 'subDevices'>): Finding[] {
  const products = Object.entries(config.gateway.products);
  if (products.length === 0 && config.subDevices.length === 0) return [skip('sub-devices', 'none configured')];
  const out: Finding[] = [];
  for (const [pk, tm] of products) {
    try {
      const raw = loadThingModelFile(tm.path);
      compileThingModel(raw, { enforceStep: tm.enforceStep, partialStructs: tm.partialStructs });
      if (raw.productKey !== pk) out.push(fail('sub-devices', `${tm.path} is the Thing Model of product "${raw.productKey}", expected "${pk}"`));
      else out.push(ok('sub-devices', `product ${pk}: ${tm.path} compiles (${raw.properties.length} properties, ${raw.services.length} services)`));
    } catch (e) {
      if (e instanceof TslError) out.push(...e.problems.map((p) => fail('sub-devices', `product ${pk}: ${tm.path}: ${p.path}: ${p.message}`)));
      else out.push(fail('sub-devices', `product ${pk}: ${tm.path}: does not compile: ${(e as Error).message}`));
    }
  }
  const n = config.subDevices.length;
  const bySource = new Map<string, number>();
  for (const d of config.subDevices) bySource.set(d.secretSource ?? 'registration', (bySource.get(d.secretSource ?? 'registration') ?? 0) + 1);
  const sources = [...bySource].map(([s, c]) => `${c} from ${s === 'registration' ? 'thing.sub.register' : `subDevices[].${s}`}`).join(', ');
  if (n > SUB_DEVICES_ONLINE_MAX) out.push(warn('sub-devices', `${n} configured: the platform keeps at most ${SUB_DEVICES_ONLINE_MAX} online per gateway; the rest will be refused (428)`));
  else out.push(ok('sub-devices', `${n} configured${n ? ` (secrets: ${sources})` : ''}; logins ${config.gateway.loginBatchSize} per batch, ${config.gateway.loginsPerSecond}/s`));
  return out;
}
