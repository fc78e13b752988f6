// What the retention deletes is gone from the database file: every local connection runs with secure_delete=ON,
// so SQLite zeroes a deleted row's bytes in its page instead of leaving them in free space.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

describe("secure_delete", () => {
  let store: Store | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    store?.close();
    await cleanup?.();
  });

  it("a deleted row's text is not left in the file once the WAL is checkpointed", async () => {
    const tmp = await tempDir("aideazz-secure-delete-");
    cleanup = tmp.cleanup;
    const path = join(tmp.dir, "s.db");
    store = await openStore({ url: `file:${path}` });
    await store.client.execute("CREATE TABLE turns (id INTEGER PRIMARY KEY, text TEXT NOT NULL)");
    const secret = "my card number is 4111-1111-1111-1111";
    // Neighbours keep the page in use: the deleted row's bytes would become a free block inside it.
    await store.client.batch([
      { sql: "INSERT INTO turns (text) VALUES (?)", args: ["kept before"] },
      { sql: "INSERT INTO turns (text) VALUES (?)", args: [secret] },
      { sql: "INSERT INTO turns (text) VALUES (?)", args: ["kept after"] },
    ], "write");
    await store.client.execute({ sql: "DELETE FROM turns WHERE text = ?", args: [secret] });
    expect(await store.checkpoint()).toBe(true);
    const file = await readFile(path);
    expect(file.includes("kept before")).toBe(true);
    expect(file.includes("4111-1111")).toBe(false);
  });
});
