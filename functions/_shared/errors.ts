// Every error Kaskade throws on purpose, in one file. Each class says when it is thrown and
// carries a stable `code`; `httpStatus` is how the one HTTP error handler (http.ts) answers it.

export abstract class KaskadeError extends Error {
  abstract readonly code: string;
  abstract readonly httpStatus: number;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request, event or file is malformed: wrong shape, dtype, size, missing field. */
export class BadInputError extends KaskadeError {
  readonly code: string = 'bad_input';
  readonly httpStatus: number = 400;
}

/** An object is well-formed but a field's value is not allowed (Kubernetes' 422 Invalid); names the field. */
export class InvalidFieldError extends BadInputError {
  override readonly code = 'invalid';
  override readonly httpStatus = 422;
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A body or tensor payload is larger than the configured limit. */
export class PayloadTooLargeError extends KaskadeError {
  readonly code = 'payload_too_large';
  readonly httpStatus = 413;
}

/** A path exists but not for this HTTP method; `allow` lists the methods it takes (the Allow header). */
export class MethodNotAllowedError extends KaskadeError {
  readonly code = 'method_not_allowed';
  readonly httpStatus = 405;
  constructor(
    readonly allow: readonly string[],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A named thing (model, job, artifact, service) does not exist. */
export class NotFoundError extends KaskadeError {
  readonly code = 'not_found';
  readonly httpStatus = 404;
}

/** A write lost a race (a generation precondition or compare-and-swap failed). */
export class ConflictError extends KaskadeError {
  readonly code: string = 'conflict';
  readonly httpStatus = 409;
}

/** A create named something that already exists. */
export class AlreadyExistsError extends ConflictError {
  override readonly code = 'already_exists';
}

/** A request lacks valid credentials (no bearer token, a wrong one, an expired or foreign JWT). */
export class UnauthorizedError extends KaskadeError {
  readonly code = 'unauthorized';
  readonly httpStatus = 401;
}

/** A path or URL escapes the configured storage roots: the caller's input is bad (400, never retried). */
export class ForbiddenPathError extends KaskadeError {
  readonly code = 'forbidden_path';
  readonly httpStatus = 400;
}

/** The caller's identity may not do this (a Kubernetes RBAC denial, a bad bearer token's scope). */
export class ForbiddenError extends KaskadeError {
  readonly code = 'forbidden';
  readonly httpStatus = 403;
}

/** Not ready yet (model not loaded, backend starting) or a downstream call failed. */
export class UnavailableError extends KaskadeError {
  readonly code = 'unavailable';
  readonly httpStatus = 503;
}

/** A downstream call did not answer in time. */
export class TimeoutError extends KaskadeError {
  readonly code = 'timeout';
  readonly httpStatus = 504;
}

/** An environment variable or manifest setting is missing or invalid; names the culprit. */
export class ConfigError extends KaskadeError {
  readonly code = 'config';
  readonly httpStatus = 500;
}

/** The TF.js backend that was asked for cannot be loaded. */
export class BackendError extends KaskadeError {
  readonly code = 'backend';
  readonly httpStatus = 500;
}

/** Running a model on a valid request failed (a kernel error, out of memory): the server's fault. */
export class InferenceError extends KaskadeError {
  readonly code = 'inference_failed';
  readonly httpStatus = 500;
}

/** Safetensors bytes that violate the format (bad header, offsets, dtype, sizes). */
export class WireFormatError extends BadInputError {
  override readonly code = 'wire_format';
}

export function isKaskadeError(e: unknown): e is KaskadeError {
  return e instanceof KaskadeError;
}

/** A model uses something a conversion cannot express (a layer type, an option, a datatype); names it. */
export class UnsupportedModelError extends BadInputError {
  override readonly code = 'unsupported_model';
}
