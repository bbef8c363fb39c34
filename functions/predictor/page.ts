// GET /: the predictor's web page, one self-contained HTML document. Its stylesheet and script
// are inline and allowed by hash in the Content-Security-Policy, so the page can load nothing
// from anywhere else and talks only to this server's v2 API.
import { createHash } from 'node:crypto';
import { PAGE_SCRIPT, PAGE_STYLE } from './page-assets.js';

export interface Page {
  html: string;
  /** The Content-Security-Policy header to send with it. */
  csp: string;
}

export function renderPage(options: { modelName: string }): Page {
  const name = escapeHtml(options.modelName);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kaskade predictor · ${name}</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body data-model="${name}">
<header>
  <h1>Kaskade predictor</h1>
  <p id="model-info" aria-live="polite">Loading the model…</p>
</header>
<main>
  <section aria-labelledby="input-title">
    <div id="image-input">
      <h2 id="input-title">Draw a digit</h2>
      <p class="hint">Draw with your mouse or finger, or upload a picture. The prediction updates when you lift the pen.</p>
      <div id="pad-wrap"><canvas id="pad" width="280" height="280" role="img" aria-label="Drawing area: draw one digit here"></canvas></div>
      <div class="row">
        <button type="button" id="predict" class="primary">Predict</button>
        <button type="button" id="clear">Clear</button>
        <label class="file-label">Upload an image<input type="file" id="file" accept="image/*"></label>
      </div>
      <div class="row" id="seen-wrap"><canvas id="seen" width="28" height="28" role="img" aria-label="What the model sees: the drawing scaled to 28 by 28 pixels"></canvas><span>What the model sees (28×28)</span></div>
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
  <p>This page calls the Open Inference Protocol v2: <code>POST /v2/models/${name}/infer</code>. Metadata: <code>GET /v2/models/${name}</code>.</p>
</footer>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src '${sha256(PAGE_SCRIPT)}'`,
    `style-src '${sha256(PAGE_STYLE)}'`,
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

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
