/** The cloud API actions the simulator implements, one file each. */
import { getDeviceStatus } from './get-device-status';
import { invokeThingService } from './invoke-thing-service';
import { invokeThingsService } from './invoke-things-service';
import { pub } from './pub';
import { queryDeviceEventData } from './query-device-event-data';
import { queryDevicePropertyData } from './query-device-property-data';
import { queryDevicePropertyStatus } from './query-device-property-status';
import { registerDevice } from './register-device';
import { rrpc } from './rrpc';
import { setDeviceProperty } from './set-device-property';
import { setDevicesProperty } from './set-devices-property';
import { deleteDeviceProp, queryDeviceProp, saveDeviceProp } from './device-prop';
import { createThingScript, getThingScript, updateThingScript } from './thing-script';
import { setDeviceDesiredProperty } from './set-device-desired-property';
import { queryDeviceDesiredProperty } from './query-device-desired-property';
import { updateDeviceShadow } from './update-device-shadow';
import { getDeviceShadow } from './get-device-shadow';
import { createOTAFirmware, createOTAModule, generateOTAUploadURL, queryOTAFirmware } from './ota-firmware';
import { createOTADynamicUpgradeJob, createOTAStaticUpgradeJob, listOTAJobByFirmware, queryOTAJob } from './ota-jobs';
import { cancelOTATaskByJob, confirmOTATask, listOTAModuleVersionsByDevice, listOTATaskByJob, listOTAUnfinishedTaskByDevice } from './ota-tasks';
import { batchAddThingTopo, getGatewayBySubDevice, getThingTopo, notifyAddThingTopo, removeThingTopo } from './topo';
import { batchGetDeviceState, deleteDevice, disableThing, enableThing } from './thing-state';
import type { ApiAction } from './types';

export const API_ACTIONS: readonly ApiAction<never>[] = [
  setDeviceProperty,
  setDevicesProperty,
  rrpc,
  invokeThingService,
  invokeThingsService,
  pub,
  getDeviceStatus,
  queryDevicePropertyStatus,
  queryDeviceEventData,
  queryDevicePropertyData,
  registerDevice,
  createThingScript,
  updateThingScript,
  getThingScript,
  saveDeviceProp,
  queryDeviceProp,
  deleteDeviceProp,
  setDeviceDesiredProperty,
  queryDeviceDesiredProperty,
  updateDeviceShadow,
  getDeviceShadow,
  createOTAModule,
  generateOTAUploadURL,
  createOTAFirmware,
  queryOTAFirmware,
  createOTAStaticUpgradeJob,
  createOTADynamicUpgradeJob,
  queryOTAJob,
  listOTAJobByFirmware,
  listOTATaskByJob,
  cancelOTATaskByJob,
  listOTAUnfinishedTaskByDevice,
  confirmOTATask,
  listOTAModuleVersionsByDevice,
  batchAddThingTopo,
  getThingTopo,
  removeThingTopo,
  getGatewayBySubDevice,
  notifyAddThingTopo,
  disableThing,
  enableThing,
  deleteDevice,
  batchGetDeviceState,
] as unknown as readonly ApiAction<never>[];

export { Dispatcher } from './dispatcher';
export type { ApiAction, ApiDeps } from './types';
