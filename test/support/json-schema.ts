/**
 * A small JSON Schema 2020-12 validator: the keywords `aideazz.schema.json` uses, standing in for an editor checking
 * a config against it. No dependency: the project has no JSON Schema validator of its own to test with.
 */
type Schema = { [key: string]: unknown } | boolean;
type Obj = { [key: string]: unknown };

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function typeIs(t: string, value: unknown): boolean {
  switch (t) {
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number";
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "null":
      return value === null;
    case "object":
      return isObject(value);
    default:
      return false;
  }
}

/** Whether `value` is valid against `schema` (`root`: where `$ref`s start). */
export function validateJsonSchema(schema: Schema, value: unknown, root: Schema = schema): boolean {
  if (typeof schema === "boolean") return schema;
  const s = schema;
  const n = (key: string) => s[key] as number | undefined;
  const sub = (key: string) => s[key] as Schema[] | undefined;
  const valid = (sch: unknown, v: unknown) => validateJsonSchema(sch as Schema, v, root);
  if (typeof s["$ref"] === "string") {
    const target = s["$ref"].replace(/^#\/?/, "").split("/").filter(Boolean)
      .reduce((node: unknown, key) => (node as Obj)[decodeURIComponent(key)], root);
    if (!valid(target, value)) return false;
  }
  if (s["type"] !== undefined) {
    const types = (Array.isArray(s["type"]) ? s["type"] : [s["type"]]) as string[];
    if (!types.some((t) => typeIs(t, value))) return false;
  }
  if ("const" in s && !same(s["const"], value)) return false;
  if (Array.isArray(s["enum"]) && !s["enum"].some((e) => same(e, value))) return false;
  if (typeof value === "string") {
    const length = [...value].length;
    if (length < (n("minLength") ?? 0) || length > (n("maxLength") ?? Infinity)) return false;
    if (typeof s["pattern"] === "string" && !new RegExp(s["pattern"], "u").test(value)) return false;
  }
  if (typeof value === "number") {
    if (value < (n("minimum") ?? -Infinity) || value > (n("maximum") ?? Infinity)) return false;
    if (value <= (n("exclusiveMinimum") ?? -Infinity) || value >= (n("exclusiveMaximum") ?? Infinity)) return false;
  }
  if (Array.isArray(value)) {
    if (value.length < (n("minItems") ?? 0) || value.length > (n("maxItems") ?? Infinity)) return false;
    if (s["items"] !== undefined && !value.every((v) => valid(s["items"], v))) return false;
  }
  if (isObject(value)) {
    const props = (s["properties"] ?? {}) as Obj;
    if (!((s["required"] ?? []) as string[]).every((key) => key in value)) return false;
    for (const [key, v] of Object.entries(value)) {
      if (!valid(key in props ? props[key] : s["additionalProperties"] ?? true, v)) return false;
      if (s["propertyNames"] !== undefined && !valid(s["propertyNames"], key)) return false;
    }
    for (const [key, needs] of Object.entries((s["dependentRequired"] ?? {}) as { [key: string]: string[] })) {
      if (key in value && !needs.every((k) => k in value)) return false;
    }
  }
  if (sub("allOf") && !sub("allOf")!.every((x) => valid(x, value))) return false;
  if (sub("anyOf") && !sub("anyOf")!.some((x) => valid(x, value))) return false;
  if (sub("oneOf") && sub("oneOf")!.filter((x) => valid(x, value)).length !== 1) return false;
  if (s["not"] !== undefined && valid(s["not"], value)) return false;
  if (s["if"] !== undefined) {
    const branch = valid(s["if"], value) ? s["then"] : s["else"];
    if (branch !== undefined && !valid(branch, value)) return false;
  }
  return true;
}
