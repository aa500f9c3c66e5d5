// Output of the Java and Python client programs: `name=value` lines, and `name!error=...` for a
// section that threw. Tests look values up by name, so a failing section names itself.
export class ProgramOutput {
  private readonly values = new Map<string, string>();

  constructor(readonly stdout: string, readonly stderr: string, readonly code: number | null) {
    for (const line of stdout.split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) this.values.set(line.slice(0, at), line.slice(at + 1));
    }
  }

  /** The value printed under `key`; when absent, the error says what the program reported instead. */
  get(key: string): string {
    const value = this.values.get(key);
    if (value !== undefined) return value;
    const errors = this.errors().join('; ') || 'no section errors';
    throw new Error(`no output for ${key} (${errors}; exit ${this.code}; stderr: ${this.stderr.slice(-2000)})`);
  }

  /** Every section error the program printed. */
  errors(): string[] {
    return [...this.values].filter(([name]) => name.endsWith('!error')).map(([name, error]) => `${name}: ${error}`);
  }
}
