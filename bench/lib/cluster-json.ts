// JSON objects read from etcd values (null when a value is not a JSON object).
export function parseJson(value: Buffer | string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : null;
  } catch {
    return null;
  }
}
