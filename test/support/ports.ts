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

// Linux gives listen(0) an odd port from the lower half of ip_local_port_range (~7,000 ports) and may give a port
// just freed again at once: two agents of one test would get the same one. The last ports handed out here are not
// handed out again.
const recent: number[] = [];

/** A TCP port on 127.0.0.1 that was free a moment ago and is none of the last 100 this process was given. */
export async function freePort(): Promise<number> {
  for (;;) {
    const { server, port } = await listenAnywhere();
    await close(server);
    if (recent.includes(port)) continue;
    recent.push(port);
    if (recent.length > 100) recent.shift();
    return port;
  }
}

/** `n` different TCP ports on 127.0.0.1 that were free a moment ago. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  return ports;
}
