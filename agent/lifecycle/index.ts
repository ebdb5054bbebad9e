export { SystemdIntegration, type SystemdIntegrationOptions } from './systemd';
export { SystemdNotifier, type SystemdNotifierOptions, type NotifyResult, type Env } from './notifier';
export { Watchdog, watchdogFromEnv, type WatchdogOptions, type WatchdogSetting, type WatchdogStats } from './watchdog';
export { formatStatus, displayUrl, oneLine, type StatusSnapshot } from './status';
export { loadNotifyBinding, findNativeDir, type NotifyBinding, type BindingLoad } from './binding';
export { LifecycleError, LifecycleErrors, type LifecycleErrorCode } from './errors';
