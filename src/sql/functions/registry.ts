// Every function the proxy answers itself, by name. sql/vectorgate.sql declares the same signatures.
import { versionFunction } from '../version.ts';
import { createCollection, dropCollection, listCollections } from './collections.ts';
import { listPolicies, setPolicy } from './policies.ts';
import { get, search } from './reads.ts';
import type { LocalFunction } from './types.ts';
import { remove, upsert } from './writes.ts';
import { listSettings } from './settings.ts';

export const LOCAL_FUNCTIONS: ReadonlyMap<string, LocalFunction> = new Map(
  [versionFunction, createCollection, dropCollection, listCollections, upsert, remove, search, get, setPolicy, listPolicies, listSettings]
    .map((fn) => [fn.name, fn]),
);
