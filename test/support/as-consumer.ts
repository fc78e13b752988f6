// Hand-made deliveries run the way the bus consumer runs a handler: the write it hands `ackWith` commits once it
// returned (statements only: these tests have no bus to publish on).
import type { AckWrite, Delivery, Handler } from "../../src/bus/types.ts";
import type { Store } from "../../src/store/mod.ts";

export function asConsumer(store: Store, handler: Handler): Handler {
  return async (d: Delivery) => {
    let write: AckWrite | undefined;
    await handler({
      ...d,
      ackWith(w) {
        if (write) throw new Error("ackWith: called twice for one delivery");
        if (w.publish?.length) throw new Error("asConsumer: no bus to publish on");
        write = w;
      },
    });
    if (write?.before?.length) await store.client.batch(write.before, "write");
  };
}

/** The `ackWith` of a hand-made delivery before `asConsumer` replaces it. */
export function noAckWith(): never {
  throw new Error("run the handler through asConsumer");
}
