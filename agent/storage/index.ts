/** The agent's SQLite file, shared by the outbox and the inbox (see agent/outbox/README.md, "Durability"). */
export { AgentDb, openAgentDb, isCorruption, type OpenAgentDbOptions, type RecoveredFile, type SyncMode } from './db';
export { STORAGE_ERROR_CODES, StorageError, StorageLockedError, type StorageErrorCode } from './errors';
