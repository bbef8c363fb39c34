// Bearer-token authentication: the settings (token, Secret file, OIDC audience + JWKS), the shared
// token, and JWTs signed by a key the test makes, checked against a JWKS file and a JWKS served
// over HTTP (as a cluster's issuer serves it).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../test/support/temp-dir.js';
import { Authenticator, bearerHeaders, inheritedAuthEnv, loadAuthConfig } from './auth.js';
import { ConfigError, UnauthorizedError } from './errors.js';

const TOKEN = 's3cret-token-for-tests';

describe('loadAuthConfig', () => {
  it('is off when nothing is set', () => {
    expect(loadAuthConfig({})).toBeUndefined();
    expect(loadAuthConfig({ KASKADE_AUTH_TOKEN: '' })).toBeUndefined();
  });

  it('reads the token from the variable or from a mounted Secret file (trimmed)', () => {
    expect(loadAuthConfig({ KASKADE_AUTH_TOKEN: TOKEN })).toEqual({ token: TOKEN });
    const read = (path: string): string => (path === '/secrets/token' ? `${TOKEN}\n` : '');
    expect(loadAuthConfig({ KASKADE_AUTH_TOKEN_FILE: '/secrets/token' }, read)).toEqual({ token: TOKEN });
  });

  it.each([
    {
      name: 'an unreadable token file',
      env: { KASKADE_AUTH_TOKEN_FILE: '/nowhere/token' },
      want: /KASKADE_AUTH_TOKEN_FILE/,
    },
    { name: 'a token with spaces', env: { KASKADE_AUTH_TOKEN: 'a b' }, want: /KASKADE_AUTH_TOKEN/ },
    {
      name: 'an audience without a JWKS',
      env: { KASKADE_AUTH_OIDC_AUDIENCE: 'kaskade' },
      want: /KASKADE_AUTH_JWKS_URL/,
    },
    {
      name: 'a JWKS without an audience',
      env: { KASKADE_AUTH_JWKS_URL: 'https://issuer/jwks' },
      want: /KASKADE_AUTH_OIDC_AUDIENCE/,
    },
    {
      name: 'a JWKS URL of another scheme',
      env: { KASKADE_AUTH_OIDC_AUDIENCE: 'kaskade', KASKADE_AUTH_JWKS_URL: 'ftp://x/jwks' },
      want: /http\(s\):\/\/ or file:\/\//,
    },
  ])('refuses $name with a ConfigError naming the variable', ({ env, want }) => {
    const read = (): string => {
      throw new Error('ENOENT');
    };
    expect(() => loadAuthConfig(env, read)).toThrow(ConfigError);
    expect(() => loadAuthConfig(env, read)).toThrow(want);
  });

  it('puts the shared token on outgoing calls, and nothing when off or OIDC only', () => {
    expect(bearerHeaders({ token: TOKEN })).toEqual({ authorization: `Bearer ${TOKEN}` });
    expect(bearerHeaders(undefined)).toEqual({});
  });
});

describe('Authenticator with a shared token', () => {
  const auth = new Authenticator({ token: TOKEN });

  it('accepts the token', async () => {
    await expect(auth.check({ authorization: `Bearer ${TOKEN}` })).resolves.toBeUndefined();
    await expect(auth.check({ authorization: `bearer ${TOKEN}` })).resolves.toBeUndefined();
  });

  it.each([
    { name: 'no header', headers: {} },
    { name: 'a wrong token', headers: { authorization: 'Bearer wrong' } },
    { name: 'a token that only starts right', headers: { authorization: `Bearer ${TOKEN}x` } },
    { name: 'Basic credentials', headers: { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` } },
    { name: 'an empty bearer', headers: { authorization: 'Bearer ' } },
  ])('refuses $name with UnauthorizedError (401)', async ({ headers }) => {
    const refusal = auth.check(headers);
    await expect(refusal).rejects.toThrow(UnauthorizedError);
    await expect(refusal).rejects.toMatchObject({ httpStatus: 401, code: 'unauthorized' });
  });

  it('leaves the probes open, and only for GET and HEAD', () => {
    expect(Authenticator.isOpen('GET', '/healthz')).toBe(true);
    expect(Authenticator.isOpen('HEAD', '/v2/health/ready?x=1')).toBe(true);
    expect(Authenticator.isOpen('GET', '/v2/health/live')).toBe(true);
    expect(Authenticator.isOpen('POST', '/healthz')).toBe(false);
    expect(Authenticator.isOpen('GET', '/healthz/../v2/models/m')).toBe(false);
    expect(Authenticator.isOpen('GET', '/v2/models/mnist')).toBe(false);
  });

  it('opens the paths a function declares, exactly and only for GET and HEAD', () => {
    const auth = new Authenticator({ token: 'secret', openPaths: ['/'] });
    expect(auth.opens('GET', '/')).toBe(true);
    expect(auth.opens('HEAD', '/?model=mnist')).toBe(true);
    expect(auth.opens('GET', '/healthz')).toBe(true);
    expect(auth.opens('POST', '/')).toBe(false);
    expect(auth.opens('GET', '/v2/models/mnist')).toBe(false);
    expect(auth.opens('GET', '//')).toBe(false);
    expect(new Authenticator({ token: 'secret' }).opens('GET', '/')).toBe(false);
  });
});

describe('Authenticator with OIDC (Knative Eventing sender identity)', () => {
  let dir: TempDir;
  let jwksServer: Server;
  let jwksUrl = '';
  let jwksFetches = 0;
  let sign: (claims: { aud?: string; iss?: string; exp?: number }) => Promise<string>;
  let signWithOtherKey: () => Promise<string>;

  beforeAll(async () => {
    dir = await makeTempDir('kaskade-auth-');
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = JSON.stringify({ keys: [jwk] });
    await writeFile(join(dir.path, 'jwks.json'), jwks);
    jwksServer = createServer((req, res) => {
      jwksFetches += 1;
      if (req.headers.authorization !== 'Bearer sa-token') return void res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/openid/v1/jwks`;
    sign = (claims) => {
      const jwt = new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setSubject('system:serviceaccount:kaskade:oidc-broker')
        .setIssuedAt();
      if (claims.aud !== undefined) jwt.setAudience(claims.aud);
      if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
      jwt.setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 600);
      return jwt.sign(privateKey);
    };
    signWithOtherKey = () =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setAudience('kaskade')
        .setExpirationTime('10m')
        .sign(other.privateKey);
  });

  afterAll(async () => {
    jwksServer.closeAllConnections();
    await new Promise<void>((r) => jwksServer.close(() => r()));
    await dir.remove();
  });

  const cases = [
    { name: 'the JWKS in a file', source: 'file' as const },
    { name: 'the JWKS served over HTTP with a service-account token', source: 'http' as const },
  ];

  it.each(cases)('verifies signature, audience and expiry against $name', async ({ source }) => {
    const env = {
      KASKADE_AUTH_OIDC_AUDIENCE: 'kaskade',
      KASKADE_AUTH_JWKS_URL: source === 'file' ? pathToFileURL(join(dir.path, 'jwks.json')).href : jwksUrl,
      KASKADE_AUTH_JWKS_TOKEN: 'sa-token',
    };
    const config = loadAuthConfig(env);
    expect(config?.oidc?.audience).toBe('kaskade');
    const auth = new Authenticator(config ?? {});
    await expect(auth.check({ authorization: `Bearer ${await sign({ aud: 'kaskade' })}` })).resolves.toBeUndefined();
    for (const [what, jwt] of [
      ['another audience', await sign({ aud: 'someone-else' })],
      ['no audience', await sign({})],
      ['expired', await sign({ aud: 'kaskade', exp: Math.floor(Date.now() / 1000) - 3600 })],
      ['signed by another key', await signWithOtherKey()],
      ['not a JWT', 'a.b.c'],
    ] as const) {
      await expect(auth.check({ authorization: `Bearer ${jwt}` }), what).rejects.toThrow(UnauthorizedError);
    }
    if (source === 'http') expect(jwksFetches).toBeGreaterThan(0);
  });

  it('checks the issuer when one is set, and still takes the shared token beside OIDC', async () => {
    const auth = new Authenticator({
      token: TOKEN,
      oidc: {
        audience: 'kaskade',
        issuer: 'https://issuer.example',
        jwksUrl: pathToFileURL(join(dir.path, 'jwks.json')).href,
        jwksTimeoutMs: 5_000,
      },
    });
    await expect(
      auth.check({ authorization: `Bearer ${await sign({ aud: 'kaskade', iss: 'https://issuer.example' })}` }),
    ).resolves.toBeUndefined();
    await expect(
      auth.check({ authorization: `Bearer ${await sign({ aud: 'kaskade', iss: 'https://evil.example' })}` }),
    ).rejects.toThrow(/iss/);
    await expect(auth.check({ authorization: `Bearer ${TOKEN}` })).resolves.toBeUndefined();
  });
});

describe('inheritedAuthEnv (services a function creates at run time)', () => {
  it('is empty when the creator names no Secret: created services run as open as it does', () => {
    expect(inheritedAuthEnv({ KASKADE_AUTH_TOKEN: TOKEN })).toEqual([]);
  });

  it('reads the token from the named Secret, never copies its value, and copies the OIDC settings', () => {
    const env = inheritedAuthEnv({
      KASKADE_AUTH_SECRET: 'kaskade-auth',
      KASKADE_AUTH_TOKEN: TOKEN,
      KASKADE_AUTH_OIDC_AUDIENCE: 'kaskade',
      KASKADE_AUTH_JWKS_URL: 'https://kubernetes.default.svc/openid/v1/jwks',
    });
    expect(env).toEqual([
      { name: 'KASKADE_AUTH_TOKEN', valueFrom: { secretKeyRef: { name: 'kaskade-auth', key: 'token' } } },
      { name: 'KASKADE_AUTH_SECRET', value: 'kaskade-auth' },
      { name: 'KASKADE_AUTH_OIDC_AUDIENCE', value: 'kaskade' },
      { name: 'KASKADE_AUTH_JWKS_URL', value: 'https://kubernetes.default.svc/openid/v1/jwks' },
    ]);
    expect(JSON.stringify(env)).not.toContain(TOKEN);
  });
});
