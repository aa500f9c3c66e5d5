// Who may point the proxy at a reranker (issue 12): reranker_url from the collection's policy is for
// every reader; set by a session (SET / SET LOCAL) it is honoured only for the collection's owner or
// a superuser, so a reader with SELECT cannot make the proxy call an address of its choosing, even an
// allowed one (42501, the session goes on); only the owner sets the policy; http without a URL is 22023.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAuthFixture, assertSessionGoesOn, VECTOR, type AuthFixture } from './authorization-fixture.ts';
import { startRerankServer, type RerankServer } from '../helpers/rerank-server.ts';

let fixture: AuthFixture;
let server: RerankServer;

before(async () => {
  server = await startRerankServer();
  fixture = await startAuthFixture({ rerankerAllowedHosts: '127.0.0.1' });
});
after(async () => {
  await fixture?.stop();
  await server?.stop();
});

const SEARCH = `SELECT id FROM vector_search('docs', '${VECTOR}', 3, query_text => 'some words here')`;

async function codeOf(run: () => Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await run();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  return { message: 'no error' };
}

test("a reader's own reranker_url is refused with 42501; the owner's policy URL serves the reader", async () => {
  const reader = await fixture.connect('vg_reader');
  const owner = await fixture.connect('vg_owner');
  await reader.query(`SET vectorgate.rerank = on`);
  await reader.query(`SET vectorgate.reranker = 'http'`);
  const noUrl = await codeOf(() => reader.query(SEARCH));
  assert.equal(noUrl.code, '22023');
  assert.match(noUrl.message, /reranker http needs vectorgate.reranker_url/);
  await reader.query(`SET vectorgate.reranker_url = '${server.url}'`);
  const refused = await codeOf(() => reader.query(SEARCH));
  assert.equal(refused.code, '42501');
  assert.equal(refused.message, 'only the owner of collection "docs" or a superuser may set vectorgate.reranker_url');
  assert.equal(server.requests.length, 0, 'nothing was called');
  await assertSessionGoesOn(reader, 'after the refusal');
  const setByReader = await codeOf(() => reader.query(`SELECT vector_set_policy('docs', 'reranker_url', '${server.url}')`));
  assert.equal(setByReader.code, '42501');
  await owner.query(`SELECT vector_set_policy('docs', 'reranker_url', '${server.url}')`);
  await reader.query('RESET vectorgate.reranker_url');
  assert.equal((await reader.query(SEARCH)).rows.length, 3);
  assert.equal(server.requests.length, 1, "the owner's URL reranked the reader's search");
  await owner.query(`SET vectorgate.rerank = on`);
  await owner.query(`SET vectorgate.reranker = 'http'`);
  await owner.query(`SET vectorgate.reranker_url = '${server.url.replace('/rerank', '/other')}'`);
  assert.equal((await owner.query(SEARCH)).rows.length, 3);
  assert.equal(server.requests.length, 2, "the owner's session URL is honoured");
});
