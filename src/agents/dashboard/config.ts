/**
 * The analytics agent's `dashboard` settings: the login (HTTP Basic auth, credentials from environment variables
 * named here) and the page's refresh interval. Without a login the agent must bind a loopback address.
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
}).superRefine((d, ctx) => {
  if ((d.userEnv === undefined) !== (d.passwordEnv === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [d.userEnv === undefined ? "userEnv" : "passwordEnv"],
      message: "give both userEnv and passwordEnv for a login, or neither",
    });
  }
}).describe("The dashboard served on the analytics agent's port; without a login it must bind 127.0.0.1");

export type DashboardConfig = z.infer<typeof dashboardSchema>;
