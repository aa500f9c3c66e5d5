// The built-in BM25 reranker (src/router/rerank/bm25.ts): the tokenizer, scores worked out by hand,
// and orderings on real sentences (Alice's Adventures in Wonderland, ../shared/data).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Bm25Reranker, bm25Scores, tokenize } from '../../src/router/rerank/bm25.ts';
import { RerankError, RerankTimeoutError } from '../../src/router/rerank/reranker.ts';
import { DATA_DIR } from '../engine/helpers/data.ts';

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual}, expected ${expected}`);
}

describe('tokenize', () => {
  test('combining marks stay in their word (Devanagari vowel signs, a lower-cased İ)', () => {
    assert.deepEqual(tokenize('हिन्दी भाषा'), ['हिन्दी', 'भाषा']);
    assert.deepEqual(tokenize('İstanbul'), ['i\u0307stanbul']);
  });
  test('lower-cases and splits on punctuation and spaces', () => {
    assert.deepEqual(tokenize('Hello, World! It\'s 3.14 -- OK?'), ['hello', 'world', 'it', 's', '3', '14', 'ok']);
  });

  test('curly quotes and apostrophes separate like straight ones', () => {
    assert.deepEqual(tokenize('“Oh dear!” said the Rabbit’s voice—faintly'), ['oh', 'dear', 'said', 'the', 'rabbit', 's', 'voice', 'faintly']);
  });

  test('digits are tokens, split where a separator is', () => {
    assert.deepEqual(tokenize('On 2024-05-01 at 10:30, room 101b'), ['on', '2024', '05', '01', 'at', '10', '30', 'room', '101b']);
  });

  test('accented letters stay in their word, composed or not (NFKC first)', () => {
    assert.deepEqual(tokenize('Café naïve ÉCOLE'), ['café', 'naïve', 'école']);
    // e + U+0301 COMBINING ACUTE: a mark, not a letter, so unnormalised it would split the word.
    assert.deepEqual(tokenize('Cafe\u0301 ole\u0301'), ['café', 'olé']);
  });

  test('compatibility forms are folded: ligatures, full-width letters and digits', () => {
    assert.deepEqual(tokenize('ﬁne ＡＢＣ１２３'), ['fine', 'abc123']);
  });

  test('a run of CJK characters is one token, ended by CJK punctuation', () => {
    assert.deepEqual(tokenize('東京タワーに行く。北京'), ['東京タワーに行く', '北京']);
  });

  test('no tokens in empty or separator-only text', () => {
    assert.deepEqual(tokenize(''), []);
    assert.deepEqual(tokenize(' ...!!! “” — '), []);
  });

  test('keeps at most maxTokens tokens, and reads no more than 32 code units per token it may keep', () => {
    assert.deepEqual(tokenize('a b c d e', 2), ['a', 'b']);
    assert.equal(tokenize('word '.repeat(1_000_000), 2048).length, 2048);
    // One endless token: the part read ends inside it, and a token that may go on is not kept.
    assert.deepEqual(tokenize('x'.repeat(10_000_000), 2048), []);
    assert.deepEqual(tokenize(`${'x'.repeat(100)} ${'y'.repeat(1000)}`, 4), ['x'.repeat(100)]);
  });
});

describe('bm25Scores', () => {
  // N = 3 texts, lengths 3, 5 and 2 tokens: avgdl = 10 / 3. Defaults k1 = 1.2, b = 0.75.
  // Length factor K(dl) = k1 × (1 − b + b × dl / avgdl):
  //   K(3) = 1.2 × (0.25 + 0.75 × 0.9) = 1.11;  K(5) = 1.2 × (0.25 + 0.75 × 1.5) = 1.65;
  //   K(2) = 1.2 × (0.25 + 0.75 × 0.6) = 0.84.
  // A term's part: IDF × tf × (k1 + 1) / (tf + K(dl)), with k1 + 1 = 2.2.
  const corpus = ['The cat sat.', 'The cat and the dog', 'a dog'];
  const idfCat = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)); // cat in 2 of 3 texts: ln 1.6
  const idfThe = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)); // "the" in texts 0 and 1: ln 1.6
  const idfDog = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)); // dog in texts 1 and 2: ln 1.6
  const idfSat = Math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)); // sat in text 0 only: ln(8/3)

  test('one term: the shorter text with it scores higher, the text without it 0', () => {
    const scores = bm25Scores('cat', corpus);
    close(scores[0]!, (idfCat * 1 * 2.2) / (1 + 1.11), 'text 0'); // ≈ 0.4901
    close(scores[1]!, (idfCat * 1 * 2.2) / (1 + 1.65), 'text 1'); // ≈ 0.3902
    assert.equal(scores[2], 0);
  });

  test('several terms add up; a term twice in a text saturates (tf = 2)', () => {
    const scores = bm25Scores('the dog sat', corpus);
    close(scores[0]!, (idfThe * 2.2) / (1 + 1.11) + (idfSat * 2.2) / (1 + 1.11), 'text 0: the, sat');
    close(scores[1]!, (idfThe * 2 * 2.2) / (2 + 1.65) + (idfDog * 2.2) / (1 + 1.65), 'text 1: the × 2, dog');
    close(scores[2]!, (idfDog * 2.2) / (1 + 0.84), 'text 2: dog');
  });

  test('a query term repeated counts once per occurrence', () => {
    const once = bm25Scores('cat', corpus);
    const twice = bm25Scores('cat CAT', corpus);
    for (let i = 0; i < corpus.length; i++) close(twice[i]!, 2 * once[i]!, `text ${i}`);
  });

  test('k1 and b are the options: b = 0 ignores length, k1 = 0 ignores frequency', () => {
    const flat = bm25Scores('cat', corpus, { b: 0 });
    close(flat[0]!, idfCat, 'b = 0, tf = 1: K = k1, so the part is IDF × 2.2 / 2.2');
    close(flat[1]!, idfCat, 'same for the longer text');
    const binary = bm25Scores('the', corpus, { k1: 0 });
    close(binary[1]!, idfThe, 'k1 = 0: tf × 1 / tf');
  });

  test('a term in every text still scores above 0 (Lucene IDF is never negative)', () => {
    const scores = bm25Scores('x', ['x a', 'x b', 'x c']);
    for (const s of scores) close(s, Math.log(1 + 0.5 / 3.5) * 2.2 / (1 + 1.2), 'x');
  });

  test('empty query, query of separators, no texts, or texts without tokens: all zeros', () => {
    assert.deepEqual(bm25Scores('', corpus), new Float64Array(3));
    assert.deepEqual(bm25Scores('?!', corpus), new Float64Array(3));
    assert.deepEqual(bm25Scores('cat', []), new Float64Array(0));
    assert.deepEqual(bm25Scores('cat', ['', '...']), new Float64Array(2));
  });

  test('only the first maxTokensPerText tokens of a text count', () => {
    const scores = bm25Scores('rabbit', ['the white rabbit', 'the white rabbit'], { maxTokensPerText: 2 });
    assert.deepEqual(scores, new Float64Array(2));
  });
});

describe('BM25 on real sentences', () => {
  const alice = readFileSync(join(DATA_DIR, 'gutenberg-sentences-glove100/texts.jsonl'), 'utf8')
    .trim().split('\n').map((line) => JSON.parse(line) as { text: string; book: string })
    .filter((s) => s.book === 'alice').map((s) => s.text);
  const words = (text: string): number => { const t = new Set(tokenize(text)); return Number(t.has('white')) + Number(t.has('rabbit')); };
  const both = alice.filter((s) => words(s) === 2);
  const one = alice.filter((s) => words(s) === 1);
  const none = alice.filter((s) => words(s) === 0).slice(0, 40);
  const candidates = [...none, ...one, ...both];
  const length = (text: string): number => tokenize(text).length;

  test('the data has what the tests need', () => {
    assert.ok(both.length >= 10 && one.length >= 10, `${both.length} with both words, ${one.length} with one`);
  });

  test('"white rabbit": a sentence with both words outranks one with one word at its length or longer; none scores 0', () => {
    const scores = bm25Scores('white rabbit', candidates);
    const scoreOf = (text: string): number => scores[candidates.indexOf(text)]!;
    for (const b of both) {
      for (const o of one) {
        if (length(o) >= length(b)) assert.ok(scoreOf(b) > scoreOf(o), `${scoreOf(b)} «${b}» ≤ ${scoreOf(o)} «${o}»`);
      }
    }
    for (const o of one) assert.ok(scoreOf(o) > 0, o);
    for (const n of none) assert.equal(scoreOf(n), 0, n);
    const top = [...scores.keys()].sort((x, y) => scores[y]! - scores[x]!).slice(0, 10);
    for (const i of top) assert.equal(words(candidates[i]!), 2, candidates[i]);
  });

  test('with b = 0 (length ignored) every sentence with both words outranks every sentence with one', () => {
    const scores = bm25Scores('White Rabbit', candidates, { b: 0 });
    const lowestBoth = Math.min(...both.map((s) => scores[candidates.indexOf(s)]!));
    const highestOne = Math.max(...one.map((s) => scores[candidates.indexOf(s)]!));
    assert.ok(lowestBoth > highestOne, `${lowestBoth} ≤ ${highestOne}`);
  });
});

describe('Bm25Reranker', () => {
  test('scores as bm25Scores does with its options', async () => {
    const reranker = new Bm25Reranker({ k1: 2, b: 0.5 });
    assert.equal(reranker.kind, 'bm25');
    const texts = ['the white rabbit', 'a white cat', 'the queen'];
    assert.deepEqual(await reranker.score('white rabbit', texts, new AbortController().signal), bm25Scores('white rabbit', texts, { k1: 2, b: 0.5 }));
  });

  test('an aborted signal rejects: a RerankTimeoutError for a deadline, else a RerankError, with the reason as cause', async () => {
    const reranker = new Bm25Reranker();
    const cancelled = new Error('client went away');
    await assert.rejects(reranker.score('a', ['a'], AbortSignal.abort(cancelled)), (err: unknown) =>
      err instanceof RerankError && !(err instanceof RerankTimeoutError) && err.cause === cancelled);
    const deadline = new DOMException('deadline', 'TimeoutError');
    await assert.rejects(reranker.score('a', ['a'], AbortSignal.abort(deadline)), (err: unknown) =>
      err instanceof RerankTimeoutError && err.cause === deadline);
  });
});
