// Everything the benchmark starts registers how to stop it here; stopAll() runs those in reverse order,
// at the end, on error and on SIGINT/SIGTERM.
type Stopper = () => Promise<void> | void;

const stoppers: { name: string; stop: Stopper }[] = [];
let stopping: Promise<void> | null = null;

/** Registers a stopper; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(name: string, stop: Stopper): () => Promise<void> {
  const entry = { name, stop };
  stoppers.push(entry);
  let done: Promise<void> | null = null;
  return () => {
    done ??= (async () => {
      const i = stoppers.indexOf(entry);
      if (i >= 0) stoppers.splice(i, 1);
      await entry.stop();
    })();
    return done;
  };
}

export function stopAll(): Promise<void> {
  stopping ??= (async () => {
    while (stoppers.length > 0) {
      const { name, stop } = stoppers.pop()!;
      try {
        await stop();
      } catch (err) {
        console.error(`bench: stopping ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  })();
  return stopping;
}

/** On SIGINT/SIGTERM: stop everything, then exit 130/143. */
export function installSignalHandlers(): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}, stopping everything…`);
      stopAll().finally(() => process.exit(code));
    });
  }
}
