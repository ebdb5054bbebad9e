/**
 * Check 2: the Thing Model loads and compiles with the options the agent uses, and describes this device's
 * product. A TSL of another product would load fine and then refuse every property the cloud sends.
 */
import { compileThingModel, loadThingModelFile, TslError, type ThingModel } from '../../thing-model';
import type { AgentConfig } from '../config/load';
import { fail, ok, type Finding } from './report';

/** One FAIL line per TSL problem, then the productKey comparison. */
export function checkThingModel(config: AgentConfig): Finding[] {
  const file = config.thingModel.path;
  let model: ThingModel;
  try {
    model = loadThingModelFile(file);
    compileThingModel(model, { enforceStep: config.thingModel.enforceStep, partialStructs: config.thingModel.partialStructs });
  } catch (e) {
    if (e instanceof TslError) return e.problems.map((p) => fail('tsl', `${p.path}: ${p.message}`));
    return [fail('tsl', `${file}: does not compile: ${(e as Error).message}`)];
  }
  if (model.productKey !== config.device.productKey) {
    return [fail('tsl', `${file} is the Thing Model of product "${model.productKey}", expected device.productKey "${config.device.productKey}"`)];
  }
  const counts = `${model.properties.length} properties, ${model.services.length} services, ${model.events.length} events`;
  return [ok('tsl', `${file} compiles (product ${model.productKey}, ${counts})`)];
}
