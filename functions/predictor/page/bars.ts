// Browser side: a prediction as the top label, its confidence and one bar per label.
import { element } from './dom.js';

export function renderBars(probs: readonly number[], labels: readonly string[]): void {
  let top = 0;
  probs.forEach((p, i) => {
    if (p > (probs[top] ?? 0)) top = i;
  });
  element('answer', HTMLElement).textContent = labels[top] ?? String(top);
  element('answer-detail', HTMLElement).textContent = `${((probs[top] ?? 0) * 100).toFixed(1)} % confident`;
  const list = element('bars', HTMLElement);
  list.textContent = '';
  probs.forEach((p, i) => list.append(bar(labels[i] ?? String(i), p, i === top)));
  element('result', HTMLElement).hidden = false;
}

function bar(labelText: string, p: number, top: boolean): HTMLLIElement {
  const li = document.createElement('li');
  if (top) li.className = 'top';
  const label = document.createElement('span');
  label.className = 'label';
  label.textContent = labelText;
  const track = document.createElement('span');
  track.className = 'track';
  track.setAttribute('aria-hidden', 'true');
  const fill = document.createElement('span');
  fill.className = 'fill';
  fill.style.width = `${(p * 100).toFixed(1)}%`;
  fill.style.display = 'block';
  track.append(fill);
  const pct = document.createElement('span');
  pct.className = 'pct';
  pct.textContent = `${(p * 100).toFixed(1)} %`;
  li.append(label, track, pct);
  return li;
}
