import { createServer, type Server } from "node:net";

/** Listens on a port the system picks on 127.0.0.1 and resolves with the server and its port. */
function listenAnywhere(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : 0 });
    });
  });
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const { server, port } = await listenAnywhere();
  await close(server);
  return port;
}

/**
 * `n` different TCP ports on 127.0.0.1 that were free a moment ago: each is held until all are picked (ports taken
 * one after another with `freePort` can be the same one twice, since a port freed is the system's to give again).
 */
export async function freePorts(n: number): Promise<number[]> {
  const held = [];
  for (let i = 0; i < n; i++) held.push(await listenAnywhere());
  await Promise.all(held.map((h) => close(h.server)));
  return held.map((h) => h.port);
}
