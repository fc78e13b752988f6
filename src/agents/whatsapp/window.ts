/**
 * WhatsApp's 24-hour customer service window, per contact. The state follows from one fact, the user's last
 * inbound message time (stored by ingress, it only moves forward):
 *
 *   never wrote ──inbound──▶ open ──24 h pass──▶ closed ──inbound──▶ open …
 *
 * Open: free-form replies. Closed (or never opened): only an approved template, or nothing — sending free-form
 * there earns error 131047, and retrying it would loop. A small margin closes the window a little early, so a
 * reply planned at 23:59:59 is not sent after the deadline.
 *
 * @module
 */

export const WINDOW_MS = 24 * 60 * 60 * 1000;

export type WindowState =
  | { state: "open"; closesAt: number }
  | { state: "closed"; closedAt: number }
  | { state: "never-opened" };

export function windowState(lastInboundAt: number | undefined, now: number, marginMs = 60_000): WindowState {
  if (lastInboundAt === undefined) return { state: "never-opened" };
  const closesAt = lastInboundAt + WINDOW_MS - marginMs;
  return now < closesAt ? { state: "open", closesAt } : { state: "closed", closedAt: closesAt };
}
