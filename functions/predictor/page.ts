// GET /: the predictor's web page, one self-contained HTML document. Its stylesheet and script
// are inline and allowed by hash in the Content-Security-Policy, so the page can load nothing
// from anywhere else and talks only to this server's v2 API. The script is the TypeScript module
// page/main.ts, bundled here with esbuild when the predictor starts (see bundlePage).
// With auth on, the page is open (PAGE_PATHS) and its API calls are not: on a 401 the page asks
// for the token in its own form (page/token.ts).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { bundleBrowserPage, type BrowserAssets } from '../_shared/browser-bundle.js';

const PAGE_DIR = join(import.meta.dirname, 'page');

/** The page's own paths: the document is self-contained, so GET / is all it needs. */
export const PAGE_PATHS: readonly string[] = ['/'];

/** The page's stylesheet and bundled script, made once per predictor. */
export type PageAssets = BrowserAssets;

/**
 * Bundles page/main.ts (and what it imports) into one browser script and reads page/style.css.
 * The image runs the TypeScript sources as they are (no build step), so the bundle is made in
 * the process; the predictor starts it beside its first model load, so a broken page shows in
 * the start-up log and the first page view does not wait for it.
 */
export function bundlePage(): Promise<PageAssets> {
  return bundleBrowserPage(PAGE_DIR, 'web page');
}

export interface Page {
  html: string;
  /** The Content-Security-Policy header to send with it. */
  csp: string;
}

export function renderPage(assets: PageAssets): Page {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kaskade predictor</title>
<link rel="icon" href="data:,">
<style>${assets.style}</style>
</head>
<body>
<header>
  <h1>Kaskade predictor</h1>
  <div class="row" id="picker-row">
    <label for="model-picker">Model</label>
    <select id="model-picker" disabled><option>Loading the models…</option></select>
  </div>
  <p id="model-info" aria-live="polite">Loading the models…</p>
</header>
<form id="token-form" hidden novalidate aria-labelledby="token-title">
  <h2 id="token-title">This predictor needs a token</h2>
  <p class="hint">Paste the bearer token of this cluster's Kaskade functions. It is kept in this tab only and sent with each request.</p>
  <p id="token-error" class="error" role="alert" hidden></p>
  <div class="row">
    <label for="token">Token</label>
    <input type="password" id="token" name="token" autocomplete="off" spellcheck="false" required>
    <button type="submit" class="primary">Use token</button>
  </div>
</form>
<main>
  <section aria-labelledby="input-title">
    <div id="image-input" hidden>
      <h2 id="input-title">Draw a digit</h2>
      <p class="hint">Draw with your mouse or finger, or upload a picture. The prediction updates when you lift the pen.</p>
      <div id="pad-wrap"><canvas id="pad" width="280" height="280" role="img" aria-label="Drawing area: draw one digit here"></canvas></div>
      <div class="row">
        <button type="button" id="predict" class="primary">Predict</button>
        <button type="button" id="clear">Clear</button>
        <label class="file-label">Upload an image<input type="file" id="file" accept="image/*"></label>
      </div>
      <div class="row" id="seen-wrap"><canvas id="seen" width="28" height="28" role="img" aria-label="What the model sees: the drawing scaled to the model's input size"></canvas><span id="seen-label">What the model sees</span></div>
    </div>
    <div id="text-input" hidden>
      <h2><label for="review">Write a review</label></h2>
      <p class="hint">The model says whether it reads as positive or negative.</p>
      <p class="hint" id="text-note" hidden>This model takes token ids only (it was published without a vocabulary), so text cannot be sent from this page.</p>
      <textarea id="review" placeholder="A gripping story with wonderful acting…"></textarea>
      <div class="row"><button type="button" id="predict-text" class="primary">Predict</button></div>
    </div>
    <p id="status" role="status"></p>
  </section>
  <section aria-labelledby="result-title">
    <h2 id="result-title">Prediction</h2>
    <div id="result" hidden aria-live="polite">
      <p id="answer"></p>
      <p id="answer-detail"></p>
      <ol id="bars" aria-label="Probability of each class"></ol>
    </div>
  </section>
</main>
<footer>
  <p>This page calls the Open Inference Protocol v2: <code>POST /v2/repository/index</code> lists the models, <code>GET /v2/models/{name}</code> describes one and <code>POST /v2/models/{name}/infer</code> asks it.</p>
</footer>
<script>${assets.script}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src '${sha256(assets.script)}'`,
    `style-src '${sha256(assets.style)}'`,
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
}
