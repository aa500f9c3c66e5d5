// The one place that holds vectorgate's defaults and limits. Every limit is a setting: a flag, an
// environment variable (VECTORGATE_<NAME in upper snake case>) or a field of this object in tests.
// docs/configuration.md is generated from this file (`vectorgate settings`); a test keeps them in step.

export interface Config {
  /** Address the proxy listens on. */
  listenHost: string;
  /** Port the proxy listens on. */
  listenPort: number;
  /** postgres://user@host:port/db of the PostgreSQL everything else passes through to (host/port used). */
  upstreamHost: string;
  /** Port of the upstream PostgreSQL. */
  upstreamPort: number;
  /** Use TLS from the proxy to the upstream PostgreSQL (SSLRequest, then a TLS handshake). */
  upstreamTls: boolean;
  /** CA certificate to verify the upstream's TLS certificate with; null = encrypt without verifying (sslmode=require). */
  upstreamTlsCaFile: string | null;
  /** PEM files; when both are set the proxy answers SSLRequest with 'S' and terminates TLS. */
  tlsCertFile: string | null;
  /** Private key (PEM) for tlsCertFile. */
  tlsKeyFile: string | null;
  /** Data directory of the embedded default (PostgreSQL in <dataDir>/pg). */
  dataDir: string;
  /**
   * As root, PostgreSQL runs as an unprivileged OS user; when that user cannot reach <dataDir> (e.g. a
   * clone in root's 0700 home), its data goes to <this>/pg-<hash of the path> (<dataDir>/pg.location names it).
   */
  relocatedPostgresDir: string;
  /**
   * The database a version-1 catalog's collections (made before collections belonged to databases)
   * are given when it is migrated at open. `vectorgate start` uses the database it creates unless this is set.
   */
  catalogMigrationDatabase: string;
  /** The owner role a version-1 catalog's collections are given when it is migrated (`vectorgate start`: the role it creates, unless set). */
  catalogMigrationOwner: string;
  /** pino log level; debug adds sampled per-statement lines (see logSampleEvery). */
  logLevel: 'silent' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** At log level debug, one statement in N gets a line (route, kind, durationMs, rows); other levels time nothing. */
  logSampleEvery: number;
  /** Prometheus endpoint; port 0 disables it. */
  metricsHost: string;
  /** Port of the Prometheus endpoint (GET /metrics); 0 disables it. */
  metricsPort: number;
  /**
   * When set, GET /metrics needs `Authorization: Bearer <token>` (401 otherwise). Required when
   * metricsHost is not a loopback address: the proxy refuses to start without it.
   */
  metricsBearerToken: string | null;

  /** Largest frontend message accepted after startup (PostgreSQL's own cap is 1 GB). */
  maxMessageBytes: number;
  /** Largest startup packet (PostgreSQL's MAX_STARTUP_PACKET_LENGTH). */
  maxStartupPacketBytes: number;
  /** Largest password/SASL/GSS message body before authentication (PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH). */
  maxAuthTokenBytes: number;
  /** Client connections served at once; more get FATAL 53300 like PostgreSQL's max_connections. */
  maxConnections: number;
  /**
   * Slots of maxConnections that connections still in startup cannot take: kept for sessions that have
   * authenticated, as PostgreSQL keeps superuser_reserved_connections (default 3 there too; at most maxConnections − 1 apply).
   */
  reservedAuthenticatedConnections: number;
  /** Connections from one client address still in startup (not yet authenticated); more get FATAL 53300. */
  maxStartupPerAddress: number;
  /** From TCP accept to ReadyForQuery (PostgreSQL: authentication_timeout). */
  startupTimeoutMs: number;
  /** A connection that sends no byte for this long after accept is closed without an answer. */
  startupSilenceTimeoutMs: number;
  /** Close a session idle outside a transaction for this long; 0 = never (PostgreSQL's default). */
  idleSessionTimeoutMs: number;
  /** Connecting to the upstream PostgreSQL. */
  upstreamConnectTimeoutMs: number;
  /** Delivering a CancelRequest upstream; the client's cancel connection closes after it at the latest. */
  cancelTimeoutMs: number;
  /** Client messages held behind a running local statement, before reading from the client pauses. */
  maxHeldClientBytes: number;
  /**
   * Local responses held until Sync or Flush, as PostgreSQL holds its output: one write (and one wake-up
   * of the client) per pipeline instead of one per message. Past this size they go out at once.
   */
  maxHeldResponseBytes: number;
  /**
   * Responses waiting in a client's socket (sent, not yet read by the client) before the session
   * stops reading from that client and from its upstream until the client reads them — what
   * PostgreSQL does when its send buffer is full. Bounds the memory one client that never reads can
   * hold; a large local result is written in chunks of maxHeldResponseBytes under this limit.
   */
  maxClientBacklogBytes: number;
  /**
   * Answers a session may await from the upstream at once (one per forwarded message); past it the
   * client is not read until half have come, so a flood of tiny statements cannot grow the queue.
   */
  maxPendingResponses: number;
  /** A client that reads none of its backlog for this long is disconnected (08006), freeing its upstream backend. */
  clientBacklogTimeoutMs: number;
  /** At shutdown (SIGTERM): how long running statements may finish before their sessions are ended. */
  shutdownGraceMs: number;
  /** At shutdown: the whole stop (statements, snapshots, PostgreSQL) ends within this, else the process exits anyway. */
  shutdownTimeoutMs: number;
  /** Statements whose classification (local or pass-through) is cached per process. */
  classifyCacheEntries: number;
  /** Longest SQL text whose classification is cached (longer ones are classified every time). */
  classifyCacheMaxSqlBytes: number;
  /** Longest SQL text that is parsed; longer ones pass through unless they look like a call of ours (54000). */
  maxClassifiedSqlBytes: number;
  /** Named prepared statements and portals tracked per session. */
  maxPreparedPerSession: number;
  /**
   * Statements the proxy keeps prepared upstream per session for its own repeated reads (the settings
   * read-back); past it the oldest is closed. One-off reads (EXPLAIN) are closed right after use.
   */
  maxInternalStatementsPerSession: number;

  /**
   * How long a session trusts a privilege answer from PostgreSQL (has_table_privilege on the
   * collection's relation) before asking again: the bound on how stale a GRANT/REVOKE made elsewhere
   * (another proxy, a direct connection) may be. One through this proxy clears the answers at once.
   */
  privilegeCacheMs: number;
  /**
   * Per-role quotas (src/sql/tenant.ts): the limit for a role with no `vectorgate.max_searches_per_second`
   * role setting (ALTER ROLE … [IN DATABASE …] SET, ALTER DATABASE … SET); 0 = none. Searches per
   * second, per proxy (token bucket, burst = one second's worth).
   */
  quotaMaxSearchesPerSecond: number;
  /** Default of `vectorgate.max_write_rows_per_second`: rows upserted, deleted or copied per second per role; 0 = none. */
  quotaMaxWriteRowsPerSecond: number;
  /** Default of `vectorgate.max_concurrent_statements`: vector statements one role runs at once on this proxy; 0 = none. */
  quotaMaxConcurrentStatements: number;
  /** Default of `vectorgate.max_collections`: collections one role owns (all databases); 0 = none. */
  quotaMaxCollections: number;
  /** Default of `vectorgate.max_vectors_per_collection`: rows of a collection a role writes into; 0 = none. */
  quotaMaxVectorsPerCollection: number;
  /** Default of `vectorgate.max_vectors`: rows over all collections of the owner a role writes into; 0 = none. */
  quotaMaxVectors: number;
  /** Default of `vectorgate.max_bytes`: bytes (vectors dims × 4 + payload JSON) over the owner's collections; 0 = none. */
  quotaMaxBytes: number;
  /**
   * How long a statement over a rate limit (searches or write rows per second) waits for tokens
   * before it is refused with 53400; caps (collections, vectors, bytes, concurrent statements) refuse at once.
   */
  quotaMaxWaitMs: number;
  /** Roles whose token buckets the proxy remembers; past it idle roles are forgotten, least recently used first. */
  maxTrackedRoles: number;
  /** Distinct role labels of the per-tenant metrics; later roles are counted as `other`. */
  maxTenantMetricRoles: number;
  /** Collections that may exist at once. */
  maxCollections: number;
  /** Longest collection name (PostgreSQL identifiers: 63 bytes). */
  maxCollectionNameBytes: number;
  /** Most dimensions a collection may have. */
  maxDimensions: number;
  /** Most shards a collection may have. */
  maxShards: number;
  // Issue 10, catalog part: replicas, the etcd catalog and the etcd quota store.
  /** Most replicas a collection may ask for (`replicas =>`); the embedded default runs one whatever the number. */
  maxReplicas: number;
  /** A guarded catalog change (a policy) or slot grab that lost a race is retried this often, then 40001. */
  etcdCatalogMaxRetries: number;
  /** Wait before the catalog or quota store re-lists and re-watches after its etcd watch broke (doubles up to 16×). */
  etcdWatchRetryMs: number;
  /** TTL of a proxy's etcd lease (its registration and its quota slots vanish this long after it dies). */
  proxyLeaseTtlSeconds: number;
  /** Most rows in one upsert/delete batch (and one COPY batch). */
  maxBatchRows: number;
  /** Longest id (UTF-8 bytes). */
  maxIdBytes: number;
  /** Largest payload (JSON text bytes). */
  maxPayloadBytes: number;
  /** Rows COPY into a collection parses before writing them as one batch (at most maxBatchRows). */
  copyBatchRows: number;
  /**
   * A COPY into a collection of at most this many rows is all-or-nothing: its rows are held and
   * written as one batch at CopyDone (capped at maxBatchRows, the most one batch may hold). Past it (or copyAtomicMaxBytes) a NOTICE
   * says so, and it writes batches of copyBatchRows that stay if the COPY then fails.
   */
  copyAtomicMaxRows: number;
  /** COPY data bytes (as sent) up to which a COPY into a collection is all-or-nothing (see copyAtomicMaxRows). */
  copyAtomicMaxBytes: number;
  /** Longest row of COPY data into a collection (bytes), so a missing newline cannot grow a buffer without end. */
  maxCopyRowBytes: number;
  /** Largest k of one search. */
  maxK: number;
  /** Staleness a `bounded` read allows when vectorgate.max_staleness_ms is not set (ms). */
  defaultMaxStalenessMs: number;
  /**
   * Longest a `session`, `bounded` or `linearizable` read waits for a replica to catch up (ms), when
   * the statement's vectorgate.statement_timeout is not shorter; then it fails (57014) rather than answer stale.
   */
  readConsistencyMaxWaitMs: number;
  /** Collections per session whose last write positions `session` reads remember (then the oldest is forgotten and reads of it go linearizable). */
  maxSessionWritePositions: number;
  /** Largest ef (HNSW candidate list) of one search. */
  maxEf: number;
  /** HNSW M (graph degree) of a new collection. */
  defaultM: number;
  /** HNSW ef_construction of a new collection. */
  defaultEfConstruction: number;
  /** ef of a search that names none (recall@10 ≥ 0.95 on glove-100 at 64). */
  defaultEfSearch: number;
  /** Largest filter (JSON text bytes). */
  maxFilterBytes: number;
  /** Deepest nesting of $and/$or/$not in a filter. */
  maxFilterDepth: number;
  /** Most values in one $in list. */
  maxFilterInValues: number;
  /** Distinct payload keys indexed for equality per shard. */
  payloadIndexMaxKeys: number;
  /** Filtered search: matches up to this count are answered by exact search over the matching rows. */
  exactSearchMaxRows: number;
  /**
   * Unfiltered search of a shard holding at most this many rows: an exact scan instead of the HNSW walk
   * (Qdrant's full_scan_threshold). As fast at this size, and exact: a small graph built by a
   * multi-threaded add can leave a row no walk reaches.
   */
  exactScanMaxRows: number;
  /** Filtered search: largest HNSW candidate set tried before falling back to a scan. */
  maxSearchCandidates: number;
  /** Largest vectorgate.oversample (candidates per wanted row when rescoring; candidates never exceed maxSearchCandidates). */
  maxOversample: number;
  /** Oversample of an int8 collection when vectorgate.oversample is auto (glove-100, 100k, ef 64: recall@10 0.993 vs f32 0.989; 1 gives 0.950). */
  defaultOversampleInt8: number;
  /** Oversample of a binary collection when vectorgate.oversample is auto (glove-100, 100k, ef 64: recall@10 0.988 vs f32 0.989; 100 gives 0.958; 100 dims are few for 1 bit each). */
  defaultOversampleBinary: number;
  /**
   * Where the embedded default's shard replicas run. 'threads' (default): on shardWorkers
   * worker_threads; a search waits for a thread to wake, index building never delays other sessions.
   * 'inline' (experimental): on the proxy's own thread, so a search is a function call (glove-100
   * 20k, ef 64: 2.2× the QPS at one connection), index building in steps of inlineIndexStepRows; a
   * SIGTERM that comes while its collections recover can go unanswered (seen, not yet understood).
   */
  shardHost: 'inline' | 'threads';
  /** Most rows one vector-index add takes (a replay indexes in batches of this many, on every core). */
  indexBatchRows: number;
  /** shardHost 'inline': most rows one index-building step adds (it blocks the proxy's thread meanwhile). */
  inlineIndexStepRows: number;
  /** shardHost 'inline': most searches of one shard answered by one multi-core index call (they arrived in the same event-loop turn). */
  searchBatchMaxQueries: number;
  /** shardHost 'threads': shard worker threads; 0 = one per core. */
  shardWorkers: number;

  // Issue 12: reranking, the search cache and coalescing (src/router/search-pipeline.ts).
  /**
   * Hosts an `http`/`cohere` reranker may be called at: comma-separated `host` or `host:port` (a bare
   * host allows any port). Empty (the default): no HTTP reranker may be used, so no user can make the
   * proxy call an address the operator did not list.
   */
  rerankerAllowedHosts: string;
  /** rerank_top_n when no policy sets it: merged candidates handed to the reranker. */
  defaultRerankTopN: number;
  /** Largest rerank_top_n a policy may set (and the most texts one reranker call carries). */
  maxRerankTopN: number;
  /** rerank_timeout_ms when no policy sets it: how long a reranker may take before the search falls back to vector order. */
  defaultRerankTimeoutMs: number;
  /** Largest rerank_timeout_ms a policy may set. */
  maxRerankTimeoutMs: number;
  /** Query texts of fewer words than this get a proportionally smaller top-N (docs/reranking.md). */
  rerankShortQueryWords: number;
  /** Each text sent to an HTTP reranker is cut to this many UTF-8 bytes (BM25 keeps the first rerankMaxTokensPerText tokens). */
  rerankMaxTextBytes: number;
  /** BM25: tokens of one text it scores, at most. */
  rerankMaxTokensPerText: number;
  /** Largest reply an HTTP reranker may send; past it the call fails (and the search falls back). */
  rerankMaxResponseBytes: number;
  /** Connections kept open to one reranker host. */
  rerankMaxConnectionsPerHost: number;
  /** Distinct reranker URLs with a connection pool and a circuit at once (the least recently used is closed past it). */
  rerankMaxTargets: number;
  /** Consecutive failures of one reranker URL that open its circuit. */
  rerankCircuitFailures: number;
  /** How long an open circuit refuses calls before one trial call. */
  rerankCircuitOpenMs: number;
  /** Bytes of search results the search cache holds (least recently used evicted); 0 disables it. */
  searchCacheMaxBytes: number;
  /**
   * Cluster deployments: a cached answer's age limit. Writes through this proxy make a collection's
   * entries unreachable at once; writes through other proxies are only seen by this limit.
   */
  searchCacheClusterTtlMs: number;
  /** Distinct searches in flight that later identical ones may join (coalescing); past it they run on their own. */
  searchCoalesceMaxKeys: number;
  /** Identical searches that may wait on one execution at once. */
  searchCoalesceMaxWaiters: number;
  /** Recent distinct searches whose frequency is tracked for warmup. */
  warmupTrackedSearches: number;
  /** Most frequent searches re-run in the background after a restart or after writes invalidate their collection; 0 disables warmup. */
  warmupMaxSearches: number;
  /** How long after a collection's last write its warmup starts (writes in a burst warm up once). */
  warmupDelayMs: number;
  /** Requests in flight per shard worker. */
  workerMaxInflight: number;
  /** Requests waiting per shard worker before 53400. */
  workerMaxQueued: number;
  // Issue 10, transport part.
  /**
   * Restarts of one shard worker thread within a minute, at most: a thread that dies more often
   * stays down and its shards fail with an error naming it (each death is logged).
   */
  workerMaxRestartsPerMinute: number;
  /**
   * How long a restarted thread's shard waits for the decisions of two-phase batches it had prepared
   * before it is reopened (they arrive as soon as the batch's commit record is durable).
   */
  workerReopenDecisionWaitMs: number;
  /**
   * Longest a vector statement on a collection that is still recovering after a start (its shards
   * replaying their logs) waits for it (ms); then 57P03. The statement's vectorgate.statement_timeout,
   * if shorter, ends the wait first (57014). 0: fail at once.
   */
  recoveryWaitMs: number;
  /** Write-ahead log segment size before rollover. */
  walSegmentBytes: number;
  /** Bytes one group commit (one write + fsync) takes at most. */
  walGroupCommitMaxBytes: number;
  /** Appends waiting for a group commit per shard, at most. */
  walMaxPendingAppends: number;
  /**
   * Segment size of a collection's decision log (commit records of multi-shard batches, 25 bytes
   * each); once this much was appended, commits no shard log can still need are removed.
   */
  decisionLogSegmentBytes: number;
  /** Log bytes after which a snapshot is due. */
  snapshotMinLogBytes: number;
  /** Ingest rate above which a due snapshot is deferred. */
  snapshotHeavyIngestBytesPerSec: number;

  // etcd log (issue 10, storage part: src/storage/etcd-*.ts)
  /** Key prefix of everything vectorgate keeps in etcd (logs under <prefix>log/<dir>/<shard>/). */
  etcdPrefix: string;
  /** Deadline of one etcd call (etcd3 has none by default); an unreachable etcd fails with 08006 after it. */
  etcdCallTimeoutMs: number;
  /** Total time one log write may take, retries included, before it fails with 08006. */
  etcdWriteTimeoutMs: number;
  /** Largest record body in the etcd log; a larger body is refused with 54000 (the writer splits batches below it). */
  etcdRecordMaxBytes: number;
  /** Largest etcd transaction (all records of one write), under etcd's default --max-request-bytes of 1.5 MiB; more is 54000. */
  etcdTxnMaxBytes: number;
  /** Retries of a log append whose guard failed because another writer appended first; then 40001. */
  etcdAppendMaxRetries: number;
  /** Bytes one range read of a log fetches at most (a page of records while replaying or tailing). */
  etcdTailPageBytes: number;
  /** How often a tail reads the log's next key to notice records its watch missed. */
  etcdTailCheckMs: number;
  /** etcd's --quota-backend-bytes (what its NOSPACE alarm fires at). */
  etcdQuotaBytes: number;
  /** Fraction of etcdQuotaBytes above which log appends are refused with 53400, before etcd's alarm fires. */
  etcdMaxDbFraction: number;
  /** gRPC receive limit of the etcd client, above the largest page read (grpc-js defaults to 4 MiB). */
  etcdMaxReceiveBytes: number;
  /** How long a writer reuses etcd's database size (maintenance status) for the etcdMaxDbFraction check. */
  etcdDbSizeCacheMs: number;
  /** Appends one process has waiting for a shard's etcd log (they go one transaction at a time); more get 53400. */
  etcdMaxPendingAppends: number;
  /** Shard logs whose next seq a writer remembers (saves a read per append); beyond it the cache starts over. */
  etcdNextCacheEntries: number;
  /** Log size that forces a snapshot even under heavy ingest. */
  snapshotMaxLogBytes: number;
  /** How often a shard checks whether a snapshot is due. */
  snapshotCheckIntervalMs: number;

  // Cluster processes (`vectorgate worker`, `vectorgate proxy --etcd`, `vectorgate cluster`).
  /** Client URLs of the etcd cluster, comma-separated (--etcd); empty = the embedded default (local logs and catalog). */
  etcdEndpoints: string;
  /**
   * Client URLs of a separate etcd cluster for the shard logs (--etcd-logs); empty = the logs live in
   * etcdEndpoints' cluster beside the metadata (catalog, leases, placement, quotas). Apart, a log's
   * bulk cannot slow or fill the cluster the control plane needs.
   */
  etcdLogEndpoints: string;
  /**
   * When not 0, this process exits (SIGTERM to itself) soon after the process with this pid is gone:
   * `vectorgate cluster` and the tests set it for the workers and proxies they start, so a killed
   * parent leaves none of them running.
   */
  parentPid: number;
  /** A worker's zone (--zone): a shard's replicas go to distinct zones when there are enough. */
  workerZone: string;
  /** A worker's relative capacity (--capacity): workers of larger capacity hold proportionally more replicas. */
  workerCapacity: number;
  /** How long a proxy tries a shard's replicas (failing over between them) for a read without a consistency wait of its own. */
  clusterReadTimeoutMs: number;
  /** How often the placement controller looks for etcd members to defragment (one at a time). */
  etcdDefragIntervalMs: number;
  /** A member is defragmented only when its database file is at least this large … */
  etcdDefragMinBytes: number;
  /** … and at least this many times the bytes in use (deletes and compaction leave free pages behind). */
  etcdDefragFreeRatio: number;
  /** Deadline of one member's defragmentation (it blocks that member, ~6 s per GB). */
  etcdDefragTimeoutMs: number;
  /** Writes to a shard are refused (53400) while even its most caught-up replica is more log records behind than this. */
  clusterMaxUnappliedRecords: number;
  /** How long a replica not known to have applied what a session/linearizable read needs may wait before the proxy asks another. */
  clusterReplicaWaitSliceMs: number;

  // Cluster mode, the worker process and the placement controller (issue 10, worker part).
  /** TTL of a worker's etcd lease: its workers/ and replicas/ keys vanish this long after it dies (then placementGraceMs). */
  workerLeaseTtlSeconds: number;
  /** How often a worker publishes its replicas' positions (replicas/<dir>/<shard>/<worker>); also at once when one starts serving. */
  workerReportIntervalMs: number;
  /** How often a worker rewrites its workers/<id> registration when nothing in it changed. */
  workerHeartbeatIntervalMs: number;
  /** First wait before a worker retries etcd (unreachable at start, lease lost); doubles up to workerEtcdRetryMaxMs. */
  workerEtcdRetryMs: number;
  /** Longest wait between a worker's etcd retries. */
  workerEtcdRetryMaxMs: number;
  /** Wait before a worker tries again to open a replica placed on it that failed to open (e.g. no peer snapshot yet). */
  workerOpenRetryMs: number;
  /** How often the elected placement controller re-plans (it also re-plans on every change it watches). */
  placementIntervalMs: number;
  /** How long a worker's lease may be gone before its replicas are placed elsewhere (a restart, not a death). */
  placementGraceMs: number;
  /** TTL of the controller's election lease: a dead controller's successor takes over this long after it dies. */
  controllerLeaseTtlSeconds: number;
  /** How often the controller compacts etcd's history to the current revision (the log's deleted records then free space). */
  etcdCompactIntervalMs: number;

  // Cluster mode, gRPC between proxies and worker processes (issue 10, grpc part).
  /** Deadline of one gRPC call to a worker when the caller gives none (its statement's remaining time wins when it does). */
  grpcCallTimeoutMs: number;
  /** Deadline of one snapshot transfer from a worker (all its chunks). */
  grpcSnapshotTimeoutMs: number;
  /** Largest gRPC message a worker server or client sends or receives (one request, reply or snapshot chunk). */
  grpcMaxMessageBytes: number;
  /** Calls one connection to a worker may have in flight at once (HTTP/2 max concurrent streams); more wait on the client until their deadline. */
  grpcMaxConcurrentCalls: number;
  /** Interval of HTTP/2 keepalive pings on a worker connection, so a dead peer is noticed without a call. */
  grpcKeepaliveTimeMs: number;
  /** How long a keepalive ping may go unanswered before the connection is closed. */
  grpcKeepaliveTimeoutMs: number;
  /** Longest wait between reconnect attempts to a worker that is down (gRPC's backoff grows up to this). */
  grpcReconnectMaxBackoffMs: number;
  /**
   * How long a call waits for a connection to a worker it is not connected to before failing with
   * 08006 (within its deadline); more than grpcReconnectMaxBackoffMs, so a worker back on its address is reached.
   */
  grpcConnectTimeoutMs: number;
  /** Replies of at least this many bytes are gzip'd by the worker (grpc-js cannot compress replies itself); 0 = never. */
  grpcGzipMinBytes: number;
  /** Bytes of a snapshot file one stream message carries. */
  grpcSnapshotChunkBytes: number;
  /** Largest snapshot a client accepts from a worker (all files together). */
  grpcSnapshotMaxBytes: number;
  /** Most files one snapshot transfer may carry. */
  grpcSnapshotMaxFiles: number;
}

export const DEFAULTS: Readonly<Config> = Object.freeze({
  listenHost: '127.0.0.1',
  listenPort: 6432,
  upstreamHost: '127.0.0.1',
  upstreamPort: 5432,
  upstreamTls: false,
  upstreamTlsCaFile: null,
  tlsCertFile: null,
  tlsKeyFile: null,
  dataDir: './data',
  relocatedPostgresDir: '/var/lib/vectorgate',
  catalogMigrationDatabase: 'vectorgate',
  catalogMigrationOwner: 'vectorgate',
  logLevel: 'info',
  logSampleEvery: 100,
  metricsHost: '127.0.0.1',
  metricsPort: 9187,
  metricsBearerToken: null,
  maxMessageBytes: 64 * 1024 * 1024,
  maxStartupPacketBytes: 10_000,
  maxAuthTokenBytes: 65_535,
  maxConnections: 1000,
  reservedAuthenticatedConnections: 3,
  maxStartupPerAddress: 32,
  startupTimeoutMs: 60_000,
  startupSilenceTimeoutMs: 10_000,
  idleSessionTimeoutMs: 0,
  upstreamConnectTimeoutMs: 10_000,
  cancelTimeoutMs: 10_000,
  maxHeldClientBytes: 8 * 1024 * 1024,
  maxHeldResponseBytes: 64 * 1024,
  maxClientBacklogBytes: 1024 * 1024,
  clientBacklogTimeoutMs: 600_000,
  maxPendingResponses: 100_000,
  shutdownGraceMs: 10_000,
  shutdownTimeoutMs: 120_000,
  classifyCacheEntries: 10_000,
  classifyCacheMaxSqlBytes: 16 * 1024,
  maxClassifiedSqlBytes: 1024 * 1024,
  maxPreparedPerSession: 10_000,
  maxInternalStatementsPerSession: 8,
  privilegeCacheMs: 1000,
  quotaMaxSearchesPerSecond: 0,
  quotaMaxWriteRowsPerSecond: 0,
  quotaMaxConcurrentStatements: 0,
  quotaMaxCollections: 0,
  quotaMaxVectorsPerCollection: 0,
  quotaMaxVectors: 0,
  quotaMaxBytes: 0,
  quotaMaxWaitMs: 100,
  maxTrackedRoles: 10_000,
  maxTenantMetricRoles: 100,
  maxCollections: 1000,
  maxCollectionNameBytes: 63,
  maxDimensions: 16_000,
  maxShards: 256,
  maxReplicas: 5,
  etcdCatalogMaxRetries: 20,
  etcdWatchRetryMs: 200,
  proxyLeaseTtlSeconds: 5,
  maxBatchRows: 10_000,
  maxIdBytes: 1024,
  maxPayloadBytes: 64 * 1024,
  copyBatchRows: 2000,
  copyAtomicMaxRows: 10_000,
  copyAtomicMaxBytes: 32 * 1024 * 1024,
  maxCopyRowBytes: 1024 * 1024,
  maxK: 10_000,
  defaultMaxStalenessMs: 1_000,
  readConsistencyMaxWaitMs: 10_000,
  maxSessionWritePositions: 1_000,
  maxEf: 10_000,
  defaultM: 16,
  defaultEfConstruction: 200,
  defaultEfSearch: 64,
  maxFilterBytes: 64 * 1024,
  maxFilterDepth: 32,
  maxFilterInValues: 10_000,
  payloadIndexMaxKeys: 64,
  exactSearchMaxRows: 4096,
  exactScanMaxRows: 256,
  maxSearchCandidates: 20_000,
  maxOversample: 1000,
  defaultOversampleInt8: 2,
  defaultOversampleBinary: 300,
  shardHost: 'threads',
  indexBatchRows: 16_384,
  inlineIndexStepRows: 128,
  searchBatchMaxQueries: 64,
  rerankerAllowedHosts: '',
  defaultRerankTopN: 50,
  maxRerankTopN: 1000,
  defaultRerankTimeoutMs: 100,
  maxRerankTimeoutMs: 60_000,
  rerankShortQueryWords: 3,
  rerankMaxTextBytes: 8 * 1024,
  rerankMaxTokensPerText: 2048,
  rerankMaxResponseBytes: 1024 * 1024,
  rerankMaxConnectionsPerHost: 8,
  rerankMaxTargets: 64,
  rerankCircuitFailures: 5,
  rerankCircuitOpenMs: 10_000,
  searchCacheMaxBytes: 64 * 1024 * 1024,
  searchCacheClusterTtlMs: 1_000,
  searchCoalesceMaxKeys: 1024,
  searchCoalesceMaxWaiters: 1024,
  warmupTrackedSearches: 4096,
  warmupMaxSearches: 32,
  warmupDelayMs: 200,
  shardWorkers: 0,
  workerMaxInflight: 64,
  workerMaxQueued: 4096,
  workerMaxRestartsPerMinute: 5,
  workerReopenDecisionWaitMs: 10_000,
  recoveryWaitMs: 10_000,
  walSegmentBytes: 64 * 1024 * 1024,
  walGroupCommitMaxBytes: 16 * 1024 * 1024,
  walMaxPendingAppends: 10_000,
  decisionLogSegmentBytes: 1024 * 1024,
  snapshotMinLogBytes: 64 * 1024 * 1024,
  snapshotHeavyIngestBytesPerSec: 8 * 1024 * 1024,
  // etcd log (issue 10, storage part)
  etcdPrefix: '/vectorgate/',
  etcdCallTimeoutMs: 5_000,
  etcdWriteTimeoutMs: 10_000,
  etcdRecordMaxBytes: 512 * 1024,
  etcdTxnMaxBytes: 1024 * 1024,
  etcdAppendMaxRetries: 20,
  etcdTailPageBytes: 4 * 1024 * 1024,
  etcdTailCheckMs: 1_000,
  etcdQuotaBytes: 2 * 1024 ** 3,
  etcdMaxDbFraction: 0.8,
  etcdMaxReceiveBytes: 64 * 1024 * 1024,
  etcdDbSizeCacheMs: 1_000,
  etcdMaxPendingAppends: 10_000,
  etcdNextCacheEntries: 100_000,
  snapshotMaxLogBytes: 1024 * 1024 * 1024,
  snapshotCheckIntervalMs: 5_000,
  etcdEndpoints: '',
  etcdLogEndpoints: '',
  parentPid: 0,
  workerZone: 'default',
  workerCapacity: 1,
  clusterReadTimeoutMs: 10_000,
  clusterReplicaWaitSliceMs: 500,
  clusterMaxUnappliedRecords: 5_000,
  etcdDefragIntervalMs: 10 * 60_000,
  etcdDefragMinBytes: 256 * 1024 * 1024,
  etcdDefragFreeRatio: 2,
  etcdDefragTimeoutMs: 120_000,
  // Cluster mode, the worker process and the placement controller (issue 10, worker part).
  workerLeaseTtlSeconds: 5,
  workerReportIntervalMs: 500,
  workerHeartbeatIntervalMs: 2_000,
  workerEtcdRetryMs: 500,
  workerEtcdRetryMaxMs: 10_000,
  workerOpenRetryMs: 1_000,
  placementIntervalMs: 500,
  placementGraceMs: 3_000,
  controllerLeaseTtlSeconds: 5,
  etcdCompactIntervalMs: 60_000,
  // Cluster mode, gRPC (issue 10, grpc part).
  grpcCallTimeoutMs: 30_000,
  grpcSnapshotTimeoutMs: 600_000,
  grpcMaxMessageBytes: 64 * 1024 * 1024,
  grpcMaxConcurrentCalls: 256,
  grpcKeepaliveTimeMs: 10_000,
  grpcKeepaliveTimeoutMs: 5_000,
  grpcReconnectMaxBackoffMs: 500,
  grpcConnectTimeoutMs: 1_500,
  grpcGzipMinBytes: 0,
  grpcSnapshotChunkBytes: 1024 * 1024,
  grpcSnapshotMaxBytes: 64 * 1024 * 1024 * 1024,
  grpcSnapshotMaxFiles: 1000,
});

export function makeConfig(overrides: Partial<Config> = {}): Config {
  const config = { ...DEFAULTS, ...overrides };
  assertConfig(config);
  return config;
}

function assertConfig(config: Config): void {
  const positive: (keyof Config)[] = [
    'maxMessageBytes', 'maxStartupPacketBytes', 'maxAuthTokenBytes', 'maxConnections', 'maxStartupPerAddress', 'startupTimeoutMs', 'startupSilenceTimeoutMs',
    'upstreamConnectTimeoutMs', 'cancelTimeoutMs', 'maxHeldClientBytes', 'maxHeldResponseBytes', 'maxClientBacklogBytes', 'clientBacklogTimeoutMs', 'maxPendingResponses', 'shutdownGraceMs', 'shutdownTimeoutMs', 'classifyCacheEntries', 'classifyCacheMaxSqlBytes',
    'maxClassifiedSqlBytes', 'maxPreparedPerSession', 'maxInternalStatementsPerSession', 'logSampleEvery',
    'privilegeCacheMs', 'maxTrackedRoles', 'maxTenantMetricRoles', 'maxCollections', 'maxCollectionNameBytes', 'maxDimensions', 'maxShards', 'maxReplicas', 'etcdCatalogMaxRetries', 'etcdWatchRetryMs', 'proxyLeaseTtlSeconds', 'maxBatchRows', 'maxIdBytes',
    'maxPayloadBytes', 'copyBatchRows', 'copyAtomicMaxRows', 'copyAtomicMaxBytes', 'maxCopyRowBytes', 'maxK', 'defaultMaxStalenessMs', 'readConsistencyMaxWaitMs', 'maxSessionWritePositions', 'maxEf', 'defaultM', 'defaultEfConstruction', 'defaultEfSearch',
    'maxFilterBytes', 'maxFilterDepth', 'maxFilterInValues', 'payloadIndexMaxKeys', 'exactSearchMaxRows', 'exactScanMaxRows',
    'maxSearchCandidates', 'maxOversample', 'indexBatchRows', 'inlineIndexStepRows', 'searchBatchMaxQueries', 'workerMaxInflight', 'workerMaxQueued', 'workerMaxRestartsPerMinute', 'workerReopenDecisionWaitMs', 'walSegmentBytes',
    'walGroupCommitMaxBytes', 'walMaxPendingAppends', 'decisionLogSegmentBytes', 'snapshotMinLogBytes',
    'snapshotHeavyIngestBytesPerSec', 'snapshotMaxLogBytes', 'snapshotCheckIntervalMs', 'workerCapacity', 'clusterReadTimeoutMs', 'clusterReplicaWaitSliceMs', 'clusterMaxUnappliedRecords', 'etcdDefragIntervalMs', 'etcdDefragMinBytes', 'etcdDefragTimeoutMs',
    'grpcCallTimeoutMs', 'grpcSnapshotTimeoutMs', 'grpcMaxMessageBytes', 'grpcMaxConcurrentCalls', 'grpcKeepaliveTimeMs',
    'grpcKeepaliveTimeoutMs', 'grpcReconnectMaxBackoffMs', 'grpcConnectTimeoutMs', 'grpcSnapshotChunkBytes', 'grpcSnapshotMaxBytes', 'grpcSnapshotMaxFiles',
    'workerLeaseTtlSeconds', 'workerReportIntervalMs', 'workerHeartbeatIntervalMs', 'workerEtcdRetryMs', 'workerEtcdRetryMaxMs', 'workerOpenRetryMs',
    'placementIntervalMs', 'placementGraceMs', 'controllerLeaseTtlSeconds', 'etcdCompactIntervalMs',
    'defaultRerankTopN', 'maxRerankTopN', 'defaultRerankTimeoutMs', 'maxRerankTimeoutMs', 'rerankShortQueryWords', 'rerankMaxTextBytes',
    'rerankMaxTokensPerText', 'rerankMaxResponseBytes', 'rerankMaxConnectionsPerHost', 'rerankMaxTargets', 'rerankCircuitFailures', 'rerankCircuitOpenMs',
    'searchCacheClusterTtlMs', 'searchCoalesceMaxKeys', 'searchCoalesceMaxWaiters', 'warmupTrackedSearches', 'warmupDelayMs',
  ];
  for (const key of positive) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new RangeError(`setting ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  const nonNegative: (keyof Config)[] = [
    'quotaMaxSearchesPerSecond', 'quotaMaxWriteRowsPerSecond', 'quotaMaxConcurrentStatements', 'quotaMaxCollections',
    'quotaMaxVectorsPerCollection', 'quotaMaxVectors', 'quotaMaxBytes', 'quotaMaxWaitMs', 'grpcGzipMinBytes', 'recoveryWaitMs',
    'searchCacheMaxBytes', 'warmupMaxSearches',
  ];
  for (const key of nonNegative) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`setting ${key} must be a non-negative integer (0 = no limit), got ${String(value)}`);
    }
  }
  if (config.shardHost !== 'inline' && config.shardHost !== 'threads') {
    throw new RangeError(`shardHost must be inline or threads, got ${String(config.shardHost)}`);
  }
  if (!Number.isInteger(config.shardWorkers) || config.shardWorkers < 0) {
    throw new RangeError('shardWorkers must be a non-negative integer (0 = one per core)');
  }
  if (config.grpcConnectTimeoutMs <= config.grpcReconnectMaxBackoffMs) {
    throw new RangeError('grpcConnectTimeoutMs must be longer than grpcReconnectMaxBackoffMs');
  }
  if (config.grpcSnapshotChunkBytes >= config.grpcMaxMessageBytes) {
    throw new RangeError('grpcSnapshotChunkBytes must be smaller than grpcMaxMessageBytes');
  }
  if (config.snapshotMinLogBytes > config.snapshotMaxLogBytes) {
    throw new RangeError('snapshotMinLogBytes must not exceed snapshotMaxLogBytes');
  }
  if (!(config.etcdMaxDbFraction > 0 && config.etcdMaxDbFraction <= 1)) throw new RangeError('etcdMaxDbFraction must be in (0, 1]');
  if (!(config.etcdDefragFreeRatio >= 1)) throw new RangeError('etcdDefragFreeRatio must be at least 1');
  if (config.etcdRecordMaxBytes > config.etcdTxnMaxBytes) throw new RangeError('etcdRecordMaxBytes must not exceed etcdTxnMaxBytes');
  if (config.etcdPrefix.length === 0 || !config.etcdPrefix.endsWith('/')) throw new RangeError('etcdPrefix must end with "/"');
  if (config.copyBatchRows > config.maxBatchRows) throw new RangeError('copyBatchRows must not exceed maxBatchRows');
  if (config.defaultEfSearch > config.maxEf) throw new RangeError('defaultEfSearch must not exceed maxEf');
  if (config.defaultRerankTopN > config.maxRerankTopN) throw new RangeError('defaultRerankTopN must not exceed maxRerankTopN');
  if (config.defaultRerankTimeoutMs > config.maxRerankTimeoutMs) throw new RangeError('defaultRerankTimeoutMs must not exceed maxRerankTimeoutMs');
  if (config.warmupMaxSearches > config.warmupTrackedSearches) throw new RangeError('warmupMaxSearches must not exceed warmupTrackedSearches');
  for (const key of ['defaultOversampleInt8', 'defaultOversampleBinary'] as const) {
    if (!(config[key] >= 1 && config[key] <= config.maxOversample)) throw new RangeError(`${key} must be a number from 1 to maxOversample`);
  }
  if (!Number.isInteger(config.reservedAuthenticatedConnections) || config.reservedAuthenticatedConnections < 0) {
    throw new RangeError('reservedAuthenticatedConnections must be a non-negative integer');
  }
  if (config.maxStartupPacketBytes > config.maxMessageBytes) {
    throw new RangeError('maxStartupPacketBytes must not exceed maxMessageBytes');
  }
  for (const key of ['catalogMigrationDatabase', 'catalogMigrationOwner'] as const) {
    if (typeof config[key] !== 'string' || config[key].length === 0 || config[key].includes('\0')) throw new RangeError(`${key} must be a non-empty name without NUL`);
  }
  if ((config.tlsCertFile === null) !== (config.tlsKeyFile === null)) {
    throw new RangeError('tlsCertFile and tlsKeyFile are set together or not at all');
  }
}

/** Reads VECTORGATE_* environment variables into config overrides, typed like DEFAULTS. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<Config> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULTS) as (keyof Config)[]) {
    const raw = env[envName(key)];
    if (raw === undefined) continue;
    out[key] = parseSetting(key, raw);
  }
  return out as Partial<Config>;
}

export function envName(key: string): string {
  return 'VECTORGATE_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

export function parseSetting(key: keyof Config, raw: string): unknown {
  const template = DEFAULTS[key];
  if (typeof template === 'number') {
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new RangeError(`setting ${key}: not a number: ${raw}`);
    return value;
  }
  if (typeof template === 'boolean') return raw === 'true' || raw === '1' || raw === 'on';
  return raw;
}
