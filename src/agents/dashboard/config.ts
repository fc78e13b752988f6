/**
 * The analytics agent's `dashboard` settings: the login (HTTP Basic auth, credentials from environment variables
 * named here, wrong logins limited per client address) and the page's refresh interval. Without a login the agent
 * must bind a loopback address.
 *
 * @module
 */
import { z } from "zod";
import { envVarName } from "../../config-types.ts";

export const dashboardSchema = z.strictObject({
  userEnv: envVarName.optional().describe("Environment variable holding the dashboard login's user name"),
  passwordEnv: envVarName.optional().describe("Environment variable holding the dashboard login's password"),
  refreshS: z.number().int().min(5).max(3_600).default(30).describe(
    "Seconds between automatic page refreshes",
  ),
  failedLoginsPerMinute: z.number().int().min(0).default(10).describe(
    "Wrong logins one client address may try per minute; past that it gets 429 until the minute ends (0: no limit)",
  ),
  clientAddressHeader: z.string().regex(/^[A-Za-z0-9-]+$/, "a header name such as x-forwarded-for").optional()
    .describe("Behind a reverse proxy: the header whose last entry is the client's address (e.g. x-forwarded-for)"),
}).superRefine((d, ctx) => {
  if ((d.userEnv === undefined) !== (d.passwordEnv === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [d.userEnv === undefined ? "userEnv" : "passwordEnv"],
      message: "give both userEnv and passwordEnv for a login, or neither",
    });
  }
})
  // The rule above for the published JSON Schema, so an editor flags what the loader refuses.
  .meta({ dependentRequired: { userEnv: ["passwordEnv"], passwordEnv: ["userEnv"] } })
  .describe("The dashboard served on the analytics agent's port; without a login it must bind 127.0.0.1");

export type DashboardConfig = z.infer<typeof dashboardSchema>;

/** True for 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Why a dashboard bound to `host` would be open to anyone on the network, or undefined. `config check` (the config's
 * schema) and the agent's start both ask here, so the check never says ok to a binding the agent refuses.
 */
export function exposedWithoutLogin(host: string, hasLogin: boolean): string | undefined {
  if (hasLogin || isLoopback(host)) return undefined;
  return `it binds ${host}, which other machines can reach, and the dashboard has no login; ` +
    "set dashboard.userEnv and dashboard.passwordEnv, or bind 127.0.0.1";
}
