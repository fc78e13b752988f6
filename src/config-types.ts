/**
 * Small zod building blocks shared by the config schemas of every folder.
 *
 * @module
 */
import { z } from "zod";

/**
 * The name of an environment variable that holds a secret. Config fields ending in `Env` use it, so secrets live
 * in systemd's `EnvironmentFile=`, never in the config file, and can be found for redaction by walking the config.
 * Upper case only: a secret pasted here by mistake (an API key, mixed case) is refused with a message that does not
 * repeat it.
 */
export const envVarName = z.string().regex(
  /^[A-Z_][A-Z0-9_]*$/,
  "must be the name of an environment variable (A–Z, 0–9, _; e.g. GROQ_API_KEY), not the secret itself (not shown)",
);

export const port = z.number().int().min(1).max(65_535);

/**
 * An HTTP endpoint. z.url() alone takes "localhost:8090/v1" as a URL of scheme "localhost:", which fetch
 * refuses at every call. The pattern is for the published JSON Schema, so an editor flags it too.
 */
export const httpUrl = z.url({
  protocol: /^https?$/,
  error: 'an http:// or https:// URL with its scheme, e.g. "http://127.0.0.1:8090"',
}).meta({ pattern: "^[Hh][Tt][Tt][Pp][Ss]?://" });

/**
 * A URL with a user (and password) before its host, e.g. libsql://admin:pw@host. libSQL takes no credentials
 * there, and its client's errors quote the URL whole: the store refuses it (store/open.ts), so does the config
 * check.
 */
export const URL_WITH_USERINFO = /^[a-z]+:\/\/[^/?#]*@/i;
