// One line per log record, prefixed with the component name, so the local runtime can merge
// every worker's output into one readable stream (and Cloud Logging gets plain text).
// A message is escaped before it is written: a line break or other control character in it
// (a CR/LF in an event id, a multi-line stack trace) is written as an escape such as `\n`, so
// no input can start a log line of its own and forge a record.

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/**
 * The message as one line: backslash, line breaks, tab and every other C0/C1 control character
 * (and the Unicode line and paragraph separators) become escapes.
 */
export function escapeLogField(message: string): string {
  // eslint-disable-next-line no-control-regex
  return message.replace(/[\\\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function createLogger(component: string, sink: NodeJS.WritableStream = process.stderr): Logger {
  const write = (level: string, message: string): void => {
    sink.write(`${new Date().toISOString()} ${level} [${component}] ${escapeLogField(message)}\n`);
  };
  return {
    info: (m) => write('INFO ', m),
    warn: (m) => write('WARN ', m),
    error: (m) => write('ERROR', m),
  };
}
