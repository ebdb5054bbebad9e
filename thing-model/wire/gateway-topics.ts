/**
 * Gateway and sub-device topics (docs/protocol/gateway.md): topology, sub-device registration, sub-device sessions,
 * platform error notices, cloud → gateway notifications and the gateway's pack post. Pure string work, shared by the
 * agent and the simulator. A sub-device's own traffic uses {@link deviceTopics} etc. with the sub-device's identity.
 */
import type { DeviceIdentity } from './topics';

/** Topics on the gateway's own identity. Every request topic `X` is answered on `X_reply`. */
export function gatewayTopics(gw: DeviceIdentity) {
  const sys = `/sys/${gw.productKey}/${gw.deviceName}`;
  const session = `/ext/session/${gw.productKey}/${gw.deviceName}`;
  return {
    topoAdd: `${sys}/thing/topo/add`,
    topoAddReply: `${sys}/thing/topo/add_reply`,
    topoDelete: `${sys}/thing/topo/delete`,
    topoDeleteReply: `${sys}/thing/topo/delete_reply`,
    topoGet: `${sys}/thing/topo/get`,
    topoGetReply: `${sys}/thing/topo/get_reply`,
    subRegister: `${sys}/thing/sub/register`,
    subRegisterReply: `${sys}/thing/sub/register_reply`,
    productRegister: `${sys}/thing/proxy/provisioning/product_register`,
    productRegisterReply: `${sys}/thing/proxy/provisioning/product_register_reply`,
    listFound: `${sys}/thing/list/found`,
    listFoundReply: `${sys}/thing/list/found_reply`,
    /** Cloud → gateway: please add topology for these sub-devices (NotifyAddThingTopo). */
    topoAddNotify: `${sys}/thing/topo/add/notify`,
    topoAddNotifyReply: `${sys}/thing/topo/add/notify_reply`,
    /** Cloud → gateway: topology created (0), deleted (1), re-enabled (2) or disabled (8). */
    topoChange: `${sys}/thing/topo/change`,
    topoChangeReply: `${sys}/thing/topo/change_reply`,
    login: `${session}/combine/login`,
    loginReply: `${session}/combine/login_reply`,
    logout: `${session}/combine/logout`,
    logoutReply: `${session}/combine/logout_reply`,
    batchLogin: `${session}/combine/batch_login`,
    batchLoginReply: `${session}/combine/batch_login_reply`,
    batchLogout: `${session}/combine/batch_logout`,
    batchLogoutReply: `${session}/combine/batch_logout_reply`,
    packPost: `${sys}/thing/event/property/pack/post`,
    packPostReply: `${sys}/thing/event/property/pack/post_reply`,
  };
}

export type GatewayTopics = ReturnType<typeof gatewayTopics>;

/**
 * Topics every device has, the gateway and each sub-device alike: the platform's error notices and the lifecycle
 * notifications (disable, enable, delete). The agent subscribes them on both identities (docs/protocol/gateway.md).
 */
export function lifecycleTopics(id: DeviceIdentity) {
  const sys = `/sys/${id.productKey}/${id.deviceName}`;
  return {
    extError: `/ext/error/${id.productKey}/${id.deviceName}`,
    disable: `${sys}/thing/disable`,
    disableReply: `${sys}/thing/disable_reply`,
    enable: `${sys}/thing/enable`,
    enableReply: `${sys}/thing/enable_reply`,
    delete: `${sys}/thing/delete`,
    deleteReply: `${sys}/thing/delete_reply`,
  };
}

export type LifecycleTopics = ReturnType<typeof lifecycleTopics>;

/** `thing.topo.change` statuses. */
export const TopoChangeStatus = {
  CREATED: 0,
  DELETED: 1,
  ENABLED: 2,
  DISABLED: 8,
} as const;

/** Sub-devices per topo add/delete and per registration request. */
export const TOPO_BATCH_MAX = 30;
/** Sub-devices per batch login/logout (the current limit; older revisions say 5). */
export const LOGIN_BATCH_MAX = 50;
/** Sub-device logins per second under one gateway (the Limits page: 200 logins/s). */
export const SUB_LOGINS_PER_SECOND_MAX = 200;
/** Sub-devices online at once under one gateway (the current limit). */
export const SUB_DEVICES_ONLINE_MAX = 2000;
/** Pack post limits: properties, events and sub-devices per message. */
export const PACK_POST_LIMITS = { properties: 200, events: 20, subDevices: 20 } as const;
