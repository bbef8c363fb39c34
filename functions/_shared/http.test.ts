import { describe, expect, it } from 'vitest';
import { BadInputError, MethodNotAllowedError, NotFoundError } from './errors.js';
import { errorHeaders, errorResponse } from './http.js';

describe('the one mapping of errors to HTTP answers', () => {
  it.each([
    {
      name: 'a 405 with the methods the path takes',
      error: new MethodNotAllowedError(['GET', 'POST'], 'PUT is not allowed'),
      status: 405,
      code: 'method_not_allowed',
      headers: { Allow: 'GET, POST' },
    },
    { name: 'a 400', error: new BadInputError('bad'), status: 400, code: 'bad_input', headers: {} },
    { name: 'a 404', error: new NotFoundError('gone'), status: 404, code: 'not_found', headers: {} },
    {
      name: 'an untyped error, without its message',
      error: new RangeError('secret detail'),
      status: 500,
      code: 'internal',
      headers: {},
    },
  ])('$name', ({ error, status, code, headers }) => {
    const answer = errorResponse(error);
    expect(answer.status).toBe(status);
    expect(answer.body.code).toBe(code);
    expect(answer.body.error).not.toContain('secret');
    expect(errorHeaders(error)).toEqual(headers);
  });
});
