// How large an event's attributes may be. Every delivery sends them as binary-mode headers
// (`ce-*: value`), and an HTTP server refuses large headers (Node's default limit is 16 KiB,
// with 431): bounded at ingress, an event that could never be delivered is refused with 400
// instead of being accepted and then failing every delivery and its dead letter. The bound
// leaves room for the broker's own delivery headers and the dead letter's `knativeerror*`.
import { BadInputError } from '../../functions/_shared/errors.js';
import { binaryHeaders, type WireEvent } from '../wire.js';

export const MAX_HEADER_BYTES = 8 * 1024;

export function checkHeaderBytes(event: WireEvent): void {
  let total = 0;
  for (const [name, value] of Object.entries(binaryHeaders(event.attributes))) total += name.length + value.length + 4;
  if (total > MAX_HEADER_BYTES) {
    const largest = Object.entries(event.attributes).reduce((a, b) => (b[1].length > a[1].length ? b : a));
    throw new BadInputError(
      `the event's attributes take ${total} bytes as headers, over the ${MAX_HEADER_BYTES}-byte limit (largest: ${largest[0]}, ${largest[1].length} characters)`,
    );
  }
}
