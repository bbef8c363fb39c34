// Browser side: the bearer token the page's API calls carry when the predictor has auth on.
// The page itself is served without one; the first 401 from an API call shows the token form,
// and the typed token is kept in sessionStorage (this tab only) and sent as
// `Authorization: Bearer <token>` from then on. A refused token shows the server's error and
// the form again. With auth off no call is refused, so the form never shows.
import { element } from './dom.js';

const KEY = 'kaskade.predictor.token';
/** Where the token lives when the browser refuses sessionStorage (private modes): this page only. */
let inMemory: string | null = null;
/** The one question on screen; every refused call waits for the same answer. */
let asking: Promise<void> | null = null;

function stored(): string | null {
  try {
    return sessionStorage.getItem(KEY) ?? inMemory;
  } catch {
    return inMemory;
  }
}

function store(token: string | null): void {
  inMemory = token;
  try {
    if (token === null) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, token);
  } catch {
    // inMemory holds it
  }
}

/** `fetch` for the page's API: adds the token when there is one, and on a 401 asks for one and retries. */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  for (;;) {
    const token = stored();
    const headers = new Headers(init.headers);
    if (token !== null) headers.set('Authorization', `Bearer ${token}`);
    const res = await fetch(path, { ...init, headers });
    if (res.status !== 401) return res;
    const refusal = await errorOf(res);
    // Another call may have got a new token meanwhile: retry with it before asking.
    if (stored() !== token) continue;
    if (token !== null) store(null);
    await askForToken(token === null ? null : refusal);
  }
}

async function errorOf(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON: the status says it
  }
  return `${res.status} ${res.statusText}`;
}

function askForToken(refusal: string | null): Promise<void> {
  const form = element('token-form', HTMLFormElement);
  const input = element('token', HTMLInputElement);
  const error = element('token-error', HTMLElement);
  const showError = (text: string | null): void => {
    error.textContent = text ?? '';
    error.hidden = text === null;
  };
  if (refusal !== null) showError(`The server refused it: ${refusal}. Check the token and try again.`);
  if (asking) return asking;
  if (refusal === null) showError(null);
  form.hidden = false;
  input.value = '';
  input.focus();
  asking = new Promise<void>((resolve) => {
    const onSubmit = (ev: SubmitEvent): void => {
      ev.preventDefault();
      const token = input.value.trim();
      if (token === '' || /\s/.test(token)) {
        showError(token === '' ? 'Paste the token first.' : 'A token has no spaces in it.');
        input.focus();
        return;
      }
      form.removeEventListener('submit', onSubmit);
      store(token);
      input.value = '';
      form.hidden = true;
      asking = null;
      resolve();
    };
    form.addEventListener('submit', onSubmit);
  });
  return asking;
}
