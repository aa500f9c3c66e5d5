// The one table of vectorgate's policies (ef_search, rescore, oversample, read_consistency, the rerank
// and search-cache ones, max_k, statement_timeout) and the one resolver. Each policy is a `vectorgate.*` setting (SET / SET LOCAL /
// SHOW), a per-collection policy (vector_set_policy, stored as text in the catalog) and a call argument
// where the function has one; its default comes from the running Config. Resolution order everywhere:
// call argument > SET LOCAL > SET > collection policy > server default.
import type { Config } from '../config.ts';
import { SqlState, VectorgateError } from '../errors.ts';
import { RERANKER_KINDS } from './rerank/reranker.ts';

/** Where a resolved value came from; 'transaction' is SET LOCAL, 'session' is SET (or ALTER ROLE/DATABASE … SET). */
export type PolicySource = 'call' | 'transaction' | 'session' | 'collection' | 'default';

export interface PolicyDef {
  name: string;
  type: 'integer' | 'number' | 'enum' | 'boolean' | 'milliseconds' | 'text';
  description: string;
  /** The server default, from the running config. */
  fallback(config: Config): string;
  /** The canonical text of a valid value; throws an Error saying what is allowed otherwise. */
  check(value: string, config: Config): string;
  /** null while the policy does what it says; else why it has no effect yet (vector_settings/vector_policies show it). */
  notYetEffective: string | null;
  /** For a value that asks for an effect it will not get: the NOTICE to send; null otherwise. */
  noticeFor(value: string): string | null;
}

const integerUpTo = (max: (config: Config) => number) => (value: string, config: Config): string => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max(config)) throw new Error(`must be an integer from 1 to ${max(config)}`);
  return String(n);
};

const oneOf = (...allowed: string[]) => (value: string): string => {
  const v = value.trim().toLowerCase();
  if (!allowed.includes(v)) throw new Error(`must be one of ${allowed.join(', ')}`);
  return v;
};

// PostgreSQL's spellings of a boolean: https://www.postgresql.org/docs/current/config-setting.html
const onOff = (value: string): string => {
  const v = value.trim().toLowerCase();
  if (['on', 'true', '1', 'yes'].includes(v)) return 'on';
  if (['off', 'false', '0', 'no'].includes(v)) return 'off';
  throw new Error('must be on or off');
};

const always = (): null => null;

/** A payload field's name: 1 to 128 bytes of UTF-8, no NUL. */
function fieldName(value: string): string {
  if (value.length === 0 || Buffer.byteLength(value) > 128 || value.includes('\0')) throw new Error('must be a field name of 1 to 128 bytes');
  return value;
}

/** '' (none) or an http(s) URL whose host rerankerAllowedHosts lists. */
function rerankerUrl(value: string, config: Config): string {
  if (value === '') return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('must be an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('must be an http:// or https:// URL');
  if (url.username !== '' || url.password !== '') throw new Error('must not carry a user name or password');
  if (!hostAllowed(url, config.rerankerAllowedHosts)) {
    throw new Error(`host ${url.host} is not in rerankerAllowedHosts (${config.rerankerAllowedHosts === '' ? 'empty: no HTTP reranker is allowed' : config.rerankerAllowedHosts})`);
  }
  return url.href;
}

/** Whether a comma-separated list of `host` / `host:port` entries allows url (a bare host: any port). */
export function hostAllowed(url: URL, allowed: string): boolean {
  const port = url.port === '' ? (url.protocol === 'https:' ? '443' : '80') : url.port;
  const host = url.hostname.toLowerCase();
  return allowed.split(',').map((entry) => entry.trim().toLowerCase()).filter((entry) => entry !== '').some((entry) => {
    const withPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    return withPort === null ? entry === host : withPort[1] === host && withPort[2] === port;
  });
}

/** oversample's value when nothing sets it: each collection takes its quantization's default from the config. */
export const AUTO_OVERSAMPLE = 'auto';

const oversampleValue = (value: string, config: Config): string => {
  const v = value.trim().toLowerCase();
  if (v === AUTO_OVERSAMPLE) return v;
  const n = v === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n < 1 || n > config.maxOversample) throw new Error(`must be a number from 1 to ${config.maxOversample} (maxOversample), or auto`);
  return String(n);
};

/** The oversample a search asks for: undefined for auto (the shard applies its quantization's default). */
export function oversampleOf(value: string): number | undefined {
  return value === AUTO_OVERSAMPLE ? undefined : Number(value);
}

export const READ_CONSISTENCIES = ['eventual', 'session', 'bounded', 'linearizable'] as const;
export type ReadConsistency = (typeof READ_CONSISTENCIES)[number];

export const SEARCH_CACHE_MODES = ['auto', 'on', 'off'] as const;

/** The rerank and search-cache policies (src/router/search-pipeline.ts applies them; docs/reranking.md). */
const RERANK_POLICIES: readonly PolicyDef[] = [
  {
    name: 'rerank', type: 'boolean',
    description: 'on: reorder the merged top rerank_top_n candidates by the reranker\'s score of their rerank_field against query_text (no query text: no rerank); off: vector order',
    fallback: () => 'off', check: onOff, notYetEffective: null, noticeFor: always,
  },
  {
    name: 'reranker', type: 'enum', description: 'bm25 (built in) | http (a text-embeddings-inference /rerank service at reranker_url) | cohere (a Cohere-style /rerank service at reranker_url)',
    fallback: () => 'bm25', check: oneOf(...RERANKER_KINDS), notYetEffective: null, noticeFor: always,
  },
  {
    name: 'rerank_top_n', type: 'integer', description: 'merged candidates handed to the reranker (at most maxRerankTopN); shorter query texts get fewer (docs/reranking.md)',
    fallback: (config) => String(config.defaultRerankTopN), check: integerUpTo((config) => config.maxRerankTopN), notYetEffective: null, noticeFor: always,
  },
  {
    name: 'rerank_timeout_ms', type: 'milliseconds', description: 'how long the reranker may take; past it the search answers in vector order',
    fallback: (config) => String(config.defaultRerankTimeoutMs), check: integerUpTo((config) => config.maxRerankTimeoutMs), notYetEffective: null, noticeFor: always,
  },
  {
    name: 'rerank_field', type: 'text', description: 'the payload field holding the text to rerank by (a row without it scores as empty text)',
    fallback: () => 'text', check: fieldName, notYetEffective: null, noticeFor: always,
  },
  {
    name: 'reranker_url', type: 'text',
    description: 'endpoint of the http/cohere reranker; its host must be in rerankerAllowedHosts, and only the collection\'s owner or a superuser may set it',
    fallback: () => '', check: rerankerUrl, notYetEffective: null, noticeFor: always,
  },
  {
    name: 'rerank_notice', type: 'boolean', description: 'on: a search whose rerank fell back to vector order sends a NOTICE saying why',
    fallback: () => 'off', check: onOff, notYetEffective: null, noticeFor: always,
  },
  {
    name: 'search_cache', type: 'enum',
    description: 'auto (on for eventual reads, off otherwise) | on | off: answer a repeated search from the search cache; session and linearizable reads never are',
    fallback: () => 'auto', check: oneOf(...SEARCH_CACHE_MODES), notYetEffective: null, noticeFor: always,
  },
];

export const POLICIES: readonly PolicyDef[] = [
  {
    name: 'ef_search', type: 'integer', description: 'HNSW candidate list size of a search (recall against speed)',
    fallback: (config) => String(config.defaultEfSearch), check: integerUpTo((config) => config.maxEf),
    notYetEffective: null, noticeFor: always,
  },
  {
    name: 'rescore', type: 'boolean',
    description: 'on: ask the index for ceil(k × oversample) candidates and keep the k nearest by exact distance; off: the k candidates the (quantized) index ranks first, no oversampling, still reported with exact distances',
    fallback: () => 'on', check: onOff, notYetEffective: null, noticeFor: always,
  },
  {
    name: 'oversample', type: 'number',
    description: 'candidates per wanted row when rescore is on (1 to maxOversample); auto: the collection\'s quantization default (none and f16 1, int8 defaultOversampleInt8, binary defaultOversampleBinary)',
    fallback: () => AUTO_OVERSAMPLE, check: oversampleValue, notYetEffective: null, noticeFor: always,
  },
  {
    name: 'read_consistency', type: 'enum',
    description: 'eventual (any replica) | session (one that applied this session\'s writes) | bounded (at most max_staleness_ms behind) | linearizable (one that applied everything committed before the read)',
    fallback: () => 'eventual', check: oneOf(...READ_CONSISTENCIES),
    // Embedded, the one replica of a shard applied every acknowledged write before the ack, so every
    // level is met at once; EXPLAIN says what a level cost.
    notYetEffective: null, noticeFor: always,
  },
  {
    name: 'max_staleness_ms', type: 'milliseconds', description: 'how far behind its log a replica may be for a bounded read',
    fallback: (config) => String(config.defaultMaxStalenessMs),
    check: (value) => {
      const ms = Number(value);
      if (!Number.isInteger(ms) || ms < 0) throw new Error('must be a whole number of milliseconds');
      return String(ms);
    },
    notYetEffective: null, noticeFor: always,
  },
  ...RERANK_POLICIES,
  {
    name: 'max_k', type: 'integer', description: 'largest k a search may ask for (54000 above it)',
    fallback: (config) => String(config.maxK), check: integerUpTo((config) => config.maxK),
    notYetEffective: null, noticeFor: always,
  },
  {
    name: 'statement_timeout', type: 'milliseconds', description: 'milliseconds a vector statement may run before 57014; 0 = no limit',
    fallback: () => '0',
    check: (value) => {
      const ms = Number(value);
      if (!Number.isInteger(ms) || ms < 0) throw new Error('must be a whole number of milliseconds (0 = none)');
      return String(ms);
    },
    notYetEffective: null, noticeFor: always,
  },
];

const BY_NAME: ReadonlyMap<string, PolicyDef> = new Map(POLICIES.map((p) => [p.name, p]));

export const POLICY_NAMES: readonly string[] = POLICIES.map((p) => p.name);

export function policyDef(name: string): PolicyDef | undefined {
  return BY_NAME.get(name);
}

/** The canonical text of a valid policy value (22023 otherwise), checked against the running config. */
export function checkPolicy(name: string, value: unknown, config: Config): string {
  const def = BY_NAME.get(name);
  if (def === undefined) {
    throw new VectorgateError(SqlState.InvalidParameterValue, `unknown policy "${name}"`, { hint: `known policies: ${POLICY_NAMES.join(', ')}` });
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new VectorgateError(SqlState.InvalidParameterValue, `policy ${name}: value must be text`);
  }
  try {
    return def.check(String(value), config);
  } catch (err) {
    throw new VectorgateError(SqlState.InvalidParameterValue, `invalid value for policy ${name}: "${String(value)}"`, { detail: (err as Error).message, cause: err });
  }
}

/** Everything a value may come from, highest first except the call argument, which the caller passes. */
export interface PolicyLayers {
  /** The session's effective `vectorgate.*` values, as PostgreSQL reports them (SET and SET LOCAL). */
  settings: ReadonlyMap<string, string>;
  /** Which of those came from SET LOCAL in the open transaction block. */
  localSettings: ReadonlySet<string>;
  /** The collection's stored policies, when the statement names a collection. */
  collection?: Readonly<Record<string, string>>;
  config: Config;
}

export interface ResolvedPolicy {
  value: string;
  source: PolicySource;
}

/** call argument > SET LOCAL > SET > collection policy > server default. */
export function resolvePolicy(name: string, layers: PolicyLayers, call?: string | number): ResolvedPolicy {
  const def = BY_NAME.get(name);
  if (def === undefined) throw new Error(`no policy ${name}`);
  if (call !== undefined) return { value: String(call), source: 'call' };
  const set = layers.settings.get(name);
  if (set !== undefined) return { value: set, source: layers.localSettings.has(name) ? 'transaction' : 'session' };
  const stored = layers.collection?.[name];
  if (stored !== undefined) return { value: stored, source: 'collection' };
  return { value: def.fallback(layers.config), source: 'default' };
}

/** How vector_settings() and vector_policies() describe whether a policy does what it says yet. */
export function effectOf(def: PolicyDef): string {
  return def.notYetEffective === null ? 'yes' : `not yet: ${def.notYetEffective}`;
}
