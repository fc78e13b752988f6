// Runs one write batch on a libSQL server under Deno (the agents' runtime) and prints how it ended as one JSON line:
// `deno run -A remote-batch.ts URL STATEMENTS_JSON`. Then a query on the same store (it still answers), then an
// unrelated promise rejected with nothing to handle it: that one must still end the process (exit 1, named on stderr).
import { isStoreUnavailable, openStore, storeErrorText } from "../../src/store/mod.ts";

const [url, statements] = Deno.args;
const store = await openStore({ url: url! });
const outcome = await store.client.batch(JSON.parse(statements!) as string[], "write").then(
  () => ({ ok: true }),
  (err: unknown) => ({
    ok: false,
    code: (err as { code?: unknown }).code,
    unavailable: isStoreUnavailable(err),
    text: storeErrorText(err, true),
  }),
);
const after = await store.client.execute("SELECT 1 AS one");
console.log(JSON.stringify({ ...outcome, after: after.rows[0]?.["one"] }));
store.close();
void Promise.reject(new Error("an unrelated rejection"));
