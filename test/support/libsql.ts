// libsql's Database and Statement prototypes, to count the native objects the store creates (under Deno each one
// leaks: `npm run bench -- store`).
import Database from "libsql";

const probe = new Database(":memory:");
export const statementPrototype = Object.getPrototypeOf(probe.prepare("SELECT 1")) as { iterate(): unknown };
export const databasePrototype = Object.getPrototypeOf(probe) as { prepare(): unknown };
