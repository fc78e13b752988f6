/**
 * Router settings in the config file: providers and the order they are tried in.
 * The router issue grows this; the shape here is what `config check` validates today.
 *
 * @module
 */
import { z } from "zod";
import { envVarName } from "../config-types.ts";

export const providerSchema = z.strictObject({
  kind: z.enum(["groq", "anthropic", "llama-cpp", "openai-compatible"]).describe("Wire protocol of the provider"),
  baseUrl: z.url().describe("Base URL, e.g. https://api.groq.com/openai/v1 or http://127.0.0.1:8090/v1"),
  model: z.string().min(1).describe("Model name sent to the provider"),
  apiKeyEnv: envVarName.optional().describe("Environment variable holding the API key"),
  timeoutMs: z.number().int().positive().default(3_000).describe("Per-attempt timeout"),
});

export const routerSchema = z.strictObject({
  deadlineMs: z.number().int().positive().default(20_000).describe("Overall deadline for one reply"),
  providers: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/), providerSchema).default({}),
  chain: z.array(z.string()).default([]).describe("Provider names in the order they are tried"),
}).superRefine((router, ctx) => {
  router.chain.forEach((name, i) => {
    if (!(name in router.providers)) {
      ctx.addIssue({
        code: "custom",
        path: ["chain", i],
        message: `unknown provider "${name}"; declare it under router.providers`,
      });
    }
  });
});

export type RouterConfig = z.infer<typeof routerSchema>;
