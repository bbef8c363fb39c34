// One line per log record, prefixed with the component name, so the local runtime can merge
// every worker's output into one readable stream (and Cloud Logging gets plain text).

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(component: string, sink: NodeJS.WritableStream = process.stderr): Logger {
  const write = (level: string, message: string): void => {
    sink.write(`${new Date().toISOString()} ${level} [${component}] ${message}\n`);
  };
  return {
    info: (m) => write('INFO ', m),
    warn: (m) => write('WARN ', m),
    error: (m) => write('ERROR', m),
  };
}
