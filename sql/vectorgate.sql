-- vectorgate's SQL surface as PostgreSQL functions, for installing in the upstream database so that
-- \df vector_*, ORMs and other introspection see the signatures and result types. The proxy answers
-- every one of these calls itself; reaching PostgreSQL means the client is connected around the proxy,
-- so each body raises an error saying so.
--
-- Vectors are accepted as real[] here; through the proxy, pgvector's text form '[1,2,3]' and float8[]
-- work too, as text or binary parameters. Errors through the proxy are PostgreSQL errors: 22P02 bad
-- vector text, 22000 NaN/Inf or dimension mismatch, 42P01 unknown collection, 42710 collection exists,
-- 54000 k/batch/payload over its limit, 22023 unknown policy or bad value, 0A000 unsupported placement.

-- Each collection is represented by a relation vectorgate.<name>, owned by its creator, so that
-- GRANT/REVOKE, \dp, pg_dump and JDBC metadata see it. The schema is owned by pg_database_owner, like
-- PostgreSQL 15's public schema: the database owner may create collections, others need
-- GRANT CREATE ON SCHEMA vectorgate TO <role>.
CREATE SCHEMA IF NOT EXISTS vectorgate AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA vectorgate TO PUBLIC;

CREATE OR REPLACE FUNCTION vectorgate_not_proxied(fn text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%() must be called through vectorgate', fn
    USING ERRCODE = '0A000', HINT = 'Write the vector function in the statement sent through the vectorgate proxy; views and functions stored in PostgreSQL cannot call it, and neither can a connection that bypasses the proxy.';
END $$;

CREATE OR REPLACE FUNCTION vectorgate_version() RETURNS text
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vectorgate_version'); RETURN NULL; END $$;

-- Returns the new collection's settings, every default applied:
-- {"name", "dimensions", "metric", "shards", "replicas", "quantization", "m", "ef_construction", "engine"}.
-- Dropped first: an older install lacked replicas, and a longer argument list would be a second overload.
DROP FUNCTION IF EXISTS vector_create_collection(text, integer, text, integer, text, integer, integer, text);
CREATE OR REPLACE FUNCTION vector_create_collection(
  name text, dimensions integer,
  metric text DEFAULT 'l2',            -- l2 | cosine | ip
  shards integer DEFAULT 1,
  quantization text DEFAULT 'none',    -- none | f16 | int8 | binary (usearch only; int8 and binary need cosine)
  m integer DEFAULT 16,
  ef_construction integer DEFAULT 200,
  engine text DEFAULT 'usearch',       -- usearch | hnswlib
  replicas integer DEFAULT 1           -- copies of each shard in cluster mode (1..maxReplicas); embedded: one
) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_create_collection'); RETURN NULL; END $$;

-- true; an unknown collection is 42P01.
CREATE OR REPLACE FUNCTION vector_drop_collection(name text) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_drop_collection'); RETURN NULL; END $$;

-- An older install returned no replicas or indexed_vectors column, which CREATE OR REPLACE cannot
-- add: that one is dropped first (only that one, so reinstalling over a current install keeps views
-- that use it).
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_proc WHERE oid = to_regprocedure('vector_collections()') AND NOT ('indexed_vectors' = ANY (proargnames))) THEN
    DROP FUNCTION vector_collections();
  END IF;
END $$;
CREATE OR REPLACE FUNCTION vector_collections() RETURNS TABLE (
  name text, dimensions integer, metric text, shards integer, replicas integer, quantization text, m integer,
  ef_construction integer, engine text, vectors bigint, indexed_vectors bigint, policies jsonb, created_at timestamptz
)
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_collections'); END $$;

-- Rows written (1), once durable. payload is a JSON object or NULL.
CREATE OR REPLACE FUNCTION vector_upsert(collection text, id text, vector real[], payload jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_upsert'); RETURN NULL; END $$;

-- Batch form: rows is a jsonb array of {"id": text or number, "vector": [numbers] or '[...]', "payload": {...}}.
CREATE OR REPLACE FUNCTION vector_upsert(collection text, rows jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_upsert'); RETURN NULL; END $$;

-- Rows deleted: 1, or 0 when there was no such id.
CREATE OR REPLACE FUNCTION vector_delete(collection text, id text) RETURNS bigint
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_delete'); RETURN NULL; END $$;

-- Zero or one row. (SQL language: PL/pgSQL does not allow the input id and the output id to share a name.)
-- read_consistency: eventual | session | bounded | linearizable (default: SET vectorgate.read_consistency,
-- then the collection's policy). Older installs had no such argument: their signature is dropped first.
DROP FUNCTION IF EXISTS vector_get(text, text);
CREATE OR REPLACE FUNCTION vector_get(collection text, id text, read_consistency text DEFAULT NULL) RETURNS TABLE (id text, vector real[], payload jsonb)
LANGUAGE sql AS $$
  SELECT vectorgate_not_proxied('vector_get');
  SELECT NULL::text, NULL::real[], NULL::jsonb WHERE false;
$$;

-- The k nearest rows, nearest first. distance is pgvector's: Euclidean (l2), 1 - cos (cosine), or
-- the negative inner product (ip). filter is a payload filter ({"key": value}, $in, $gt/$gte/$lt/$lte,
-- $exists, $and/$or/$not); a filtered search returns k rows whenever k rows match. ef defaults to
-- SET vectorgate.ef_search, then the collection's ef_search policy, then the server's default.
-- With vectorgate.rerank on, query_text reorders the top rerank_top_n by the reranker (docs/reranking.md);
-- without query text there is no rerank. read_consistency as for vector_get.
DROP FUNCTION IF EXISTS vector_search(text, real[], integer, jsonb, integer, text);
CREATE OR REPLACE FUNCTION vector_search(
  collection text, vector real[], k integer DEFAULT 10,
  filter jsonb DEFAULT NULL, ef integer DEFAULT NULL, query_text text DEFAULT NULL, read_consistency text DEFAULT NULL
) RETURNS TABLE (id text, distance real, payload jsonb)
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_search'); END $$;

-- The stored (canonical) value, as set_config() returns the new value. Policies: ef_search,
-- read_consistency (eventual | session | bounded | linearizable), max_staleness_ms, rescore, oversample,
-- rerank, reranker, rerank_top_n, rerank_timeout_ms, rerank_field, reranker_url, rerank_notice,
-- search_cache, max_k, statement_timeout (vector_policies(collection) lists them).
CREATE OR REPLACE FUNCTION vector_set_policy(collection text, name text, value text) RETURNS text
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_set_policy'); RETURN NULL; END $$;

-- Each known policy with the value a search in this session would use; source is transaction (SET LOCAL),
-- session (SET), collection or default; effective is 'yes' or 'not yet: why'. Dropped first: an older
-- install returned fewer columns, and CREATE OR REPLACE cannot change a function's result type.
DROP FUNCTION IF EXISTS vector_policies(text);
CREATE OR REPLACE FUNCTION vector_policies(collection text) RETURNS TABLE (name text, value text, source text, effective text)
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_policies'); END $$;

-- Every vectorgate.* setting with the value this session would use (SET / SET LOCAL, else the default).
DROP FUNCTION IF EXISTS vector_settings();
CREATE OR REPLACE FUNCTION vector_settings() RETURNS TABLE (name text, setting text, source text, description text, effective text)
LANGUAGE plpgsql AS $$ BEGIN PERFORM vectorgate_not_proxied('vector_settings'); END $$;
