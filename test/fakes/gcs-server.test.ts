// The GCS fake itself, spoken to with plain fetch: the wire behaviour the store tests rely on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGcsServer, crc32c } from './gcs-server.js';

let fake: FakeGcsServer;
beforeAll(async () => {
  fake = await FakeGcsServer.start();
});
afterAll(async () => {
  await fake.close();
});

const object = (bucket: string, name: string): string =>
  `${fake.endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`;
const upload = (bucket: string, query: string): string => `${fake.endpoint}/upload/storage/v1/b/${bucket}/o?${query}`;

describe('FakeGcsServer', () => {
  it('computes CRC-32C (the standard check value)', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('media upload, metadata, download with hashes; generations increase; 404 as a JSON error', async () => {
    const first = (await (
      await fetch(upload('b1', 'uploadType=media&name=d%2Fx'), { method: 'POST', body: 'hello' })
    ).json()) as { generation: string; size: string };
    expect(first.size).toBe('5');
    const second = (await (
      await fetch(upload('b1', 'uploadType=media&name=d%2Fx'), { method: 'POST', body: 'hello!' })
    ).json()) as { generation: string };
    expect(Number(second.generation)).toBeGreaterThan(Number(first.generation));
    const media = await fetch(`${object('b1', 'd/x')}?alt=media`);
    expect(await media.text()).toBe('hello!');
    expect(media.headers.get('x-goog-hash')).toMatch(/^crc32c=[A-Za-z0-9+/=]+,md5=[A-Za-z0-9+/=]+$/);
    expect(media.headers.get('x-goog-generation')).toBe(second.generation);
    expect((await fetch(`${fake.endpoint}/download/storage/v1/b/b1/o/d%2Fx?alt=media`)).status).toBe(200);
    expect((await fetch(`${object('b1', 'd/x')}?alt=media&generation=${first.generation}`)).status).toBe(404);
    const missing = await fetch(object('b1', 'nope'));
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: number } }).error.code).toBe(404);
  });

  it('multipart upload with ifGenerationMatch: 0 creates once, then answers 412', async () => {
    const body = (text: string): string =>
      [
        '--xx',
        'Content-Type: application/json',
        '',
        '{"name":"m","contentType":"text/plain"}',
        '--xx',
        'Content-Type: text/plain',
        '',
        text,
        '--xx--',
        '',
      ].join('\r\n');
    const send = (text: string) =>
      fetch(upload('b2', 'uploadType=multipart&ifGenerationMatch=0'), {
        method: 'POST',
        headers: { 'content-type': 'multipart/related; boundary=xx' },
        body: body(text),
      });
    expect((await send('one')).status).toBe(200);
    expect((await send('two')).status).toBe(412);
    expect(fake.getObject('b2', 'm')?.data.toString()).toBe('one');
    expect(fake.getObject('b2', 'm')?.contentType).toBe('text/plain');
  });

  it('resumable upload: session, chunks with Content-Range, status queries', async () => {
    const start = await fetch(upload('b3', 'uploadType=resumable&name=r'), {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    const session = start.headers.get('location') ?? '';
    expect(session).toContain('upload_id=');
    const put = (range: string, body = '') =>
      fetch(session, { method: 'PUT', headers: { 'content-range': range }, body });
    const partial = await put('bytes 0-3/*', 'abcd');
    expect([partial.status, partial.headers.get('range')]).toEqual([308, 'bytes=0-3']);
    const status = await put('bytes */*');
    expect([status.status, status.headers.get('range')]).toEqual([308, 'bytes=0-3']);
    const resent = await put('bytes 2-5/8', 'cdef'); // overlaps what arrived: only "ef" is new
    expect(resent.headers.get('range')).toBe('bytes=0-5');
    expect((await put('bytes 6-7/8', 'gh')).status).toBe(200);
    expect(fake.getObject('b3', 'r')?.data.toString()).toBe('abcdefgh');
    expect((await put('bytes */8')).status).toBe(200);
  });

  it('lists by prefix in pages', async () => {
    for (const name of ['p/1', 'p/2', 'p/3', 'q/1']) fake.putObject('b4', name, new Uint8Array([1]));
    const page = async (token?: string) =>
      (await (
        await fetch(`${fake.endpoint}/storage/v1/b/b4/o?prefix=p%2F&maxResults=2${token ? `&pageToken=${token}` : ''}`)
      ).json()) as {
        items?: { name: string }[];
        nextPageToken?: string;
      };
    const one = await page();
    expect(one.items?.map((i) => i.name)).toEqual(['p/1', 'p/2']);
    const two = await page(one.nextPageToken);
    expect(two.items?.map((i) => i.name)).toEqual(['p/3']);
    expect(two.nextPageToken).toBeUndefined();
  });

  it('injects faults without side effects, then recovers', async () => {
    fake.failNext(2, 503, (r) => r.method === 'POST');
    const attempt = () => fetch(upload('b5', 'uploadType=media&name=f'), { method: 'POST', body: 'x' });
    expect((await attempt()).status).toBe(503);
    expect(fake.getObject('b5', 'f')).toBeUndefined();
    expect((await attempt()).status).toBe(503);
    expect((await attempt()).status).toBe(200);
  });

  it('commits and then loses the answer: an error status, or a reset connection', async () => {
    fake.loseAnswerNext(1, (r) => r.method === 'POST');
    const attempt = (name: string) =>
      fetch(upload('b7', `uploadType=media&name=${name}&ifGenerationMatch=0`), { method: 'POST', body: name });
    expect((await attempt('f')).status).toBe(503);
    expect(fake.getObject('b7', 'f')?.data.toString()).toBe('f');
    expect((await attempt('f')).status).toBe(412);
    fake.loseAnswerNext(1, (r) => r.method === 'POST', 'reset');
    await expect(attempt('g')).rejects.toThrow();
    expect(fake.getObject('b7', 'g')?.data.toString()).toBe('g');
  });

  it('deletes, with a generation precondition', async () => {
    const { generation } = fake.putObject('b6', 'x', new Uint8Array([1]));
    expect((await fetch(`${object('b6', 'x')}?ifGenerationMatch=${generation + 1}`, { method: 'DELETE' })).status).toBe(
      412,
    );
    expect((await fetch(object('b6', 'x'), { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(object('b6', 'x'), { method: 'DELETE' })).status).toBe(404);
  });
});
