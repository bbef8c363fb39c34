// Browser side: the page's elements by id, typed, and the status line.

/** The element with that id, of that type; TypeError when the page lacks it. */
export function element<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new TypeError(`the page has no ${type.name} #${id}`);
  return found;
}

export function setStatus(text: string, isError = false): void {
  const status = element('status', HTMLElement);
  status.textContent = text;
  status.classList.toggle('error', isError);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
