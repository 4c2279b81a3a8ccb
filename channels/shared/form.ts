// key=value& bodies: the x-www-form-urlencoded notifications and answers providers send, and the
// raw canonical string most of them sign (each provider says which fields it leaves out).

/** application/x-www-form-urlencoded → fields (providers' notifications and answers); a
 * repeated name is malformed, so a tampered body cannot shadow a signed field. */
export function parseForm(body: string): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(body)) {
    if (Object.hasOwn(params, name)) return undefined;
    params[name] = value;
  }
  return params;
}

export interface CanonicalOptions {
  /** Field names left out (the signature itself, and whatever else the provider excludes). */
  exclude: readonly string[];
  /** Whether fields with an empty value are left out too. */
  drop_empty: boolean;
}

/** The fields sorted by name in byte order, as raw `name=value` joined by `&` (values are not
 * URL-encoded); undefined values are always left out. */
export function canonicalString(fields: Record<string, string | undefined>, options: CanonicalOptions): string {
  return Object.keys(fields)
    .filter((name) => !options.exclude.includes(name) && fields[name] !== undefined && !(options.drop_empty && fields[name] === ''))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => `${name}=${fields[name]}`)
    .join('&');
}
