/**
 * The Graph API `POST /{phone-number-id}/messages` endpoint: text, template and mark-as-read. The access token
 * travels in the Authorization header (never in a URL), and no error built here carries it.
 *
 * @module
 */
import { z } from "zod";
import { neverLeft } from "../../net.ts";
import { BSUID } from "./payload.ts";

export const graphErrorSchema = z.looseObject({
  error: z.looseObject({
    message: z.string().optional(),
    type: z.string().optional(),
    code: z.number().int(),
    error_subcode: z.number().int().optional(),
    error_data: z.looseObject({ details: z.string().optional() }).optional(),
    fbtrace_id: z.string().optional(),
  }),
});
export type GraphError = z.infer<typeof graphErrorSchema>["error"];

const sentSchema = z.looseObject({ messages: z.array(z.looseObject({ id: z.string() })).min(1) });

export type GraphResult =
  | { ok: true; messageId: string | undefined }
  | { ok: false; status: number; error: GraphError | undefined }
  /**
   * No answer: `unsent` when nothing reached Graph (connection refused, name not resolved), else `unknown` (a reset
   * or the send's timeout after the request may have left: Graph may have taken the message).
   */
  | { ok: false; status: 0; network: "unsent" | "unknown" };

export type GraphMessage =
  | { type: "text"; body: string }
  | { type: "template"; name: string; language: string };

export interface GraphClient {
  /** `callbackData` comes back in the message's status webhooks (`biz_opaque_callback_data`, ≤ 512 chars). */
  send(to: string, message: GraphMessage, signal?: AbortSignal, callbackData?: string): Promise<GraphResult>;
  /** Marks an inbound message (and the ones before it) as read; with `typing`, shows "typing…" for up to 25 s. */
  markRead(messageId: string, typing: boolean, signal?: AbortSignal): Promise<GraphResult>;
}

export interface GraphClientOptions {
  baseUrl: string;
  phoneNumberId: string;
  accessToken: string;
  fetch: typeof fetch;
}

function toBody(to: string, m: GraphMessage, callbackData: string | undefined): Record<string, unknown> {
  const base = {
    messaging_product: "whatsapp",
    recipient_type: "individual",
    // A chat is a phone number, or the BSUID of a user whose number Meta does not share.
    ...(BSUID.test(to) ? { recipient: to } : { to }),
    ...(callbackData === undefined ? {} : { biz_opaque_callback_data: callbackData }),
  };
  if (m.type === "text") return { ...base, type: "text", text: { preview_url: false, body: m.body } };
  return { ...base, type: "template", template: { name: m.name, language: { code: m.language } } };
}

export function createGraphClient(opts: GraphClientOptions): GraphClient {
  const url = `${opts.baseUrl.replace(/\/+$/, "")}/${opts.phoneNumberId}/messages`;
  const post = async (body: Record<string, unknown>, signal?: AbortSignal): Promise<GraphResult> => {
    let res: Response;
    try {
      res = await opts.fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${opts.accessToken}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      return { ok: false, status: 0, network: neverLeft(err) ? "unsent" : "unknown" };
    }
    const json: unknown = await res.json().catch(() => undefined);
    if (res.ok) {
      const sent = sentSchema.safeParse(json);
      return { ok: true, messageId: sent.success ? sent.data.messages[0]?.id : undefined };
    }
    const parsed = graphErrorSchema.safeParse(json);
    return { ok: false, status: res.status, error: parsed.success ? parsed.data.error : undefined };
  };
  return {
    send: (to, message, signal, callbackData) => post(toBody(to, message, callbackData), signal),
    markRead: (messageId, typing, signal) =>
      post({
        messaging_product: "whatsapp",
        status: "read",
        message_id: messageId,
        ...(typing ? { typing_indicator: { type: "text" } } : {}),
      }, signal),
  };
}
