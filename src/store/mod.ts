/**
 * The store: one libSQL database shared by every agent (a local file in WAL mode, or a libSQL server URL when
 * one VM is outgrown). Other folders import it from here.
 *
 * @module
 */
export { connectionSettings, displayDbUrl, filePathOf, openStore } from "./open.ts";
export type { Client, InStatement, ResultSet, Row, Store, StoreOptions, Synchronous, Transaction } from "./open.ts";
export { migrate, SchemaTooNewError } from "./migrate.ts";
export type { MigrateResult } from "./migrate.ts";
export { migrations } from "./migrations.ts";
export type { Migration } from "./migrations.ts";
export { isStoreUnavailable, storeErrorCode, storeErrorText } from "./errors.ts";
export { batchCalls, batchReads } from "./batch-reads.ts";
export { mergeWrites } from "./merge-inserts.ts";
export { purgeInChunks } from "./chunks.ts";
export { jsonRowsSql, parseJsonRows, selectRows } from "./json-rows.ts";
export { every } from "./every.ts";
export type { Every } from "./every.ts";
