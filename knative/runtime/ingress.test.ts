// Routing of the local ingress: the Host form, the path form, and what is not a route.
import { describe, expect, it } from 'vitest';
import { routeOf, type Route } from './ingress.js';

describe('routeOf', () => {
  const cases: Array<{ name: string; host: string | undefined; url: string; want: Route | null }> = [
    { name: 'host form with port', host: 'echo.default.localhost:8080', url: '/a?b=1', want: { namespace: 'default', name: 'echo', path: '/a?b=1', prefix: null } },
    { name: 'host form is case-insensitive', host: 'Echo.Default.LOCALHOST', url: '/', want: { namespace: 'default', name: 'echo', path: '/', prefix: null } },
    { name: 'cluster-local host', host: 'split-half-a.kaskade.svc.cluster.local', url: '/x', want: { namespace: 'kaskade', name: 'split-half-a', path: '/x', prefix: null } },
    { name: 'short cluster host', host: 'echo.kaskade.svc', url: '/', want: { namespace: 'kaskade', name: 'echo', path: '/', prefix: null } },
    { name: 'host form wins over a path that looks like a route', host: 'echo.default.localhost', url: '/other/svc/x', want: { namespace: 'default', name: 'echo', path: '/other/svc/x', prefix: null } },
    { name: 'path form', host: '127.0.0.1:8080', url: '/default/echo/a/b?c=d', want: { namespace: 'default', name: 'echo', path: '/a/b?c=d', prefix: '/default/echo' } },
    { name: 'path form without trailing slash', host: '127.0.0.1', url: '/default/echo', want: { namespace: 'default', name: 'echo', path: '/', prefix: '/default/echo' } },
    { name: 'path form with only a query', host: '127.0.0.1', url: '/default/echo?x=1', want: { namespace: 'default', name: 'echo', path: '/?x=1', prefix: '/default/echo' } },
    { name: 'a name that only starts like a service is not it', host: '127.0.0.1', url: '/default/echoes', want: { namespace: 'default', name: 'echoes', path: '/', prefix: '/default/echoes' } },
    { name: 'one segment is no route', host: 'localhost', url: '/default', want: null },
    { name: 'uppercase path is no route', host: 'localhost', url: '/Default/Echo/', want: null },
    { name: 'plain localhost root', host: 'localhost:8080', url: '/', want: null },
    { name: 'a one-label .localhost host falls back to the path', host: 'echo.localhost', url: '/ns/svc/', want: { namespace: 'ns', name: 'svc', path: '/', prefix: '/ns/svc' } },
  ];
  it.each(cases)('$name', ({ host, url, want }) => {
    expect(routeOf(host, url)).toEqual(want);
  });
});
