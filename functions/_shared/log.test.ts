// The logger writes one line per record whatever the message holds: a CR/LF in an event id
// cannot forge a record of its own.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, escapeLogField } from './log.js';

function capture(): { sink: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { sink, lines: () => chunks.join('').split('\n').slice(0, -1) };
}

describe('createLogger', () => {
  it('writes a CRLF in a field as an escape, not as a second record', () => {
    const { sink, lines } = capture();
    const logger = createLogger('aggregator', sink);
    const id = 'job-a.r1.s0\r\n2026-01-01T00:00:00.000Z INFO  [aggregator] job job-a done';
    logger.info(`event ${id} recorded`);
    const written = lines();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\S+ INFO {2}\[aggregator\] event job-a\.r1\.s0\\r\\n2026/);
    expect(written[0]).not.toContain('\r');
  });

  it('keeps a stack trace on one line', () => {
    const { sink, lines } = capture();
    createLogger('splitter', sink).error(new Error('boom').stack ?? '');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toContain('Error: boom\\n    at ');
  });
});

describe('escapeLogField', () => {
  it.each([
    ['plain text', 'plain text'],
    ['a\\b', 'a\\\\b'],
    ['tab\there', 'tab\\there'],
    ['bell\u0007', 'bell\\u0007'],
    ['nel\u0085', 'nel\\u0085'],
    ['ls\u2028ps\u2029', 'ls\\u2028ps\\u2029'],
    ['héllo ✓', 'héllo ✓'],
  ])('escapes %j as %j', (input, output) => {
    expect(escapeLogField(input)).toBe(output);
  });
});
