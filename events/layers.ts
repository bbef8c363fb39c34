// The layer pipeline's tensor messages: binary CloudEvents (HTTP binary mode) whose body is
// safetensors, posted by the layer controller straight to a layer service and answered with a
// binary CloudEvent. Each carries the job, step and micro-batch it belongs to as extension
// attributes. They are read byte for byte (wire.ts): the SDK's CloudEvent would copy a tensor
// body into base64 on every hop.
import { BadInputError } from '../functions/_shared/errors.js';
import { SAFETENSORS_CONTENT_TYPE } from './catalog.js';
import { binaryHeaders, decodeHttp, type HttpHeaders } from './wire.js';

export const LAYER_EVENT_TYPES = {
  /** Controller → layer: body `x`, the micro-batch's input. */
  forwardRequested: 'dev.kaskade.layer.forward.requested',
  /** Layer → controller (the answer): body `y`. */
  forwardCompleted: 'dev.kaskade.layer.forward.completed',
  /** Controller → layer: body `dy`, the loss gradient of the layer's output. */
  backwardRequested: 'dev.kaskade.layer.backward.requested',
  /** Layer → controller: body `dx` (empty when the input gradient was not asked for). */
  backwardCompleted: 'dev.kaskade.layer.backward.completed',
} as const;

export type LayerEventType = (typeof LAYER_EVENT_TYPES)[keyof typeof LAYER_EVENT_TYPES];

/** Which micro-batch of which step of which job a tensor belongs to. */
export interface MicrobatchRef {
  readonly jobId: string;
  readonly step: number;
  readonly microbatch: number;
}

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Binary-mode headers of one layer message; `extra` adds extension attributes. */
export function layerEventHeaders(
  type: LayerEventType,
  source: string,
  ref: MicrobatchRef,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return binaryHeaders({
    ...extra,
    specversion: '1.0',
    id: `${ref.jobId}.${ref.step}.${ref.microbatch}.${type.split('.').slice(-2).join('-')}`,
    source,
    type,
    jobid: ref.jobId,
    step: String(ref.step),
    microbatch: String(ref.microbatch),
    datacontenttype: SAFETENSORS_CONTENT_TYPE,
  });
}

export interface LayerMessage {
  readonly type: LayerEventType;
  readonly ref: MicrobatchRef;
  readonly attributes: Readonly<Record<string, string>>;
  /** The safetensors body (empty when the event has no data). */
  readonly data: Uint8Array;
}

function count(attributes: Readonly<Record<string, string>>, name: string): number {
  const raw = attributes[name];
  const value = Number(raw);
  if (raw === undefined || !/^\d{1,9}$/.test(raw) || !Number.isSafeInteger(value)) {
    throw new BadInputError(
      `layer event: attribute ${name} must be a non-negative integer, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** Reads a layer message (headers with lowercase names, raw body); malformed → BadInputError. */
export function readLayerMessage(
  headers: HttpHeaders,
  body: Uint8Array,
  types: readonly LayerEventType[],
): LayerMessage {
  const event = decodeHttp(headers, body);
  const { attributes } = event;
  const type = types.find((t) => t === attributes.type);
  if (type === undefined)
    throw new BadInputError(`unexpected event type "${attributes.type ?? ''}"; expected ${types.join(' or ')}`);
  const jobId = attributes.jobid ?? '';
  if (!JOB_ID.test(jobId))
    throw new BadInputError(`layer event: attribute jobid must be 1-128 letters, digits, ".", "_" or "-"`);
  const contentType = attributes.datacontenttype?.split(';')[0]?.trim();
  if (event.data !== undefined && contentType !== SAFETENSORS_CONTENT_TYPE) {
    throw new BadInputError(
      `layer event: content type must be ${SAFETENSORS_CONTENT_TYPE}, got ${contentType ?? 'none'}`,
    );
  }
  return {
    type,
    ref: { jobId, step: count(attributes, 'step'), microbatch: count(attributes, 'microbatch') },
    attributes,
    data: event.data ?? new Uint8Array(0),
  };
}
