/**
 * Small zod building blocks shared by the config schemas of every folder.
 *
 * @module
 */
import { z } from "zod";

/**
 * The name of an environment variable that holds a secret. Config fields ending in `Env` use it, so secrets live
 * in systemd's `EnvironmentFile=`, never in the config file, and can be found for redaction by walking the config.
 */
export const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");

export const port = z.number().int().min(1).max(65_535);
