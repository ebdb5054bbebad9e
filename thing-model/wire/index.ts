export * from './sign';
export * from './topics';
export * from './message';
export * from './topic-filter';
export * from './gateway-topics';
export * from './ota-topics';
