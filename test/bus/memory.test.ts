import { createMemoryBus } from "../../src/bus/mod.ts";
import { runBusContract } from "./contract.ts";

runBusContract(
  "memory",
  ({ now, random }) =>
    Promise.resolve({ bus: createMemoryBus({ now, random, pollMs: 10 }), cleanup: () => Promise.resolve() }),
);
