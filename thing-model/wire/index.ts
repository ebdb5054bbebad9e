export * from './sign';
export * from './topics';
export * from './message';
export * from './topic-filter';
