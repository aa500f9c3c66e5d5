// Typed reads of a decoded frame's JSON fields: whatever arrives from the network is checked field by
// field, so a bad message fails with one clear 08P01 naming the field instead of a TypeError later.
import { malformed } from './worker-frame.ts';

export class Fields {
  readonly #obj: Record<string, unknown>;
  readonly #where: string;

  private constructor(obj: Record<string, unknown>, where: string) {
    this.#obj = obj;
    this.#where = where;
  }

  static of(value: unknown, where: string): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(`${where} is not an object`);
    return new Fields(value as Record<string, unknown>, where);
  }

  has(key: string): boolean { return this.#obj[key] !== undefined; }

  raw(key: string): unknown { return this.#obj[key]; }

  #fail(key: string, expected: string): never {
    throw malformed(`${this.#where}.${key} is not ${expected}`);
  }

  str(key: string): string {
    const v = this.#obj[key];
    return typeof v === 'string' ? v : this.#fail(key, 'a string');
  }

  optStr(key: string): string | undefined { return this.has(key) ? this.str(key) : undefined; }

  num(key: string): number {
    const v = this.#obj[key];
    return typeof v === 'number' && Number.isFinite(v) ? v : this.#fail(key, 'a finite number');
  }

  /** A non-negative safe integer (counts, sequence numbers, txids). */
  count(key: string): number {
    const v = this.#obj[key];
    return Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : this.#fail(key, 'a non-negative integer');
  }

  optCount(key: string): number | undefined { return this.has(key) ? this.count(key) : undefined; }

  nullableCount(key: string): number | null { return this.#obj[key] === null ? null : this.count(key); }

  bool(key: string): boolean {
    const v = this.#obj[key];
    return typeof v === 'boolean' ? v : this.#fail(key, 'a boolean');
  }

  strings(key: string): string[] {
    const v = this.#obj[key];
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : this.#fail(key, 'a list of strings');
  }

  nullableStrings(key: string): (string | null)[] {
    const v = this.#obj[key];
    return Array.isArray(v) && v.every((s) => s === null || typeof s === 'string') ? (v as (string | null)[]) : this.#fail(key, 'a list of strings or nulls');
  }

  counts(key: string): number[] {
    const v = this.#obj[key];
    return Array.isArray(v) && v.every((n) => Number.isSafeInteger(n) && (n as number) >= 0) ? (v as number[]) : this.#fail(key, 'a list of non-negative integers');
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const v = this.#obj[key];
    return values.includes(v as T) ? (v as T) : this.#fail(key, `one of ${values.join(', ')}`);
  }

  obj(key: string): Fields { return Fields.of(this.#obj[key], `${this.#where}.${key}`); }

  optObj(key: string): Fields | undefined { return this.has(key) ? this.obj(key) : undefined; }
}
