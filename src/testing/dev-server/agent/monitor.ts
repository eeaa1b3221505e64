/**
 * The agent's log stream for `/v1/agent/monitor` (agent/agent_endpoint.go AgentMonitor over
 * logging/monitor): every line the dev server logs is offered to the open monitors, each with its
 * own minimum level and format. Lines are formatted as hclog writes them: text
 * `2006-01-02T15:04:05.000Z [INFO]  agent.http: message: key=value`, or with `?logjson` one JSON
 * object per line with `@level`, `@message`, `@module`, `@timestamp` and the fields.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/** hclog's bracketed level, padded to seven characters. */
const BRACKET: Record<LogLevel, string> = { trace: '[TRACE]', debug: '[DEBUG]', info: '[INFO] ', warn: '[WARN] ', error: '[ERROR]' };

/** logging.ValidateLogLevel: TRACE, DEBUG, INFO, WARN, ERR, ERROR (any case). */
export function parseMonitorLevel(raw: string): LogLevel | undefined {
  switch (raw.toUpperCase()) {
    case 'TRACE':
      return 'trace';
    case 'DEBUG':
      return 'debug';
    case 'INFO':
      return 'info';
    case 'WARN':
      return 'warn';
    case 'ERR':
    case 'ERROR':
      return 'error';
    default:
      return undefined;
  }
}

/** Splits `"http: request"` into the module (`agent.http`) and the message. */
function moduleOf(message: string): { module: string; text: string } {
  const m = /^([a-z][a-z0-9_.-]*): (.*)$/s.exec(message);
  return m ? { module: `agent.${m[1]!}`, text: m[2]! } : { module: 'agent', text: message };
}

function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, 'Z');
}

function fieldText(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return /[\s"=]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

export function formatLogLine(level: LogLevel, message: string, fields: Record<string, unknown> | undefined, json: boolean, now: number): string {
  const { module, text } = moduleOf(message);
  if (json) {
    return `${JSON.stringify({ '@level': level, '@message': text, '@module': module, '@timestamp': timestamp(now).replace('Z', '000Z'), ...(fields ?? {}) })}\n`;
  }
  const kv = Object.entries(fields ?? {})
    .map(([k, v]) => `${k}=${fieldText(v)}`)
    .join(' ');
  return `${timestamp(now)} ${BRACKET[level]} ${module}: ${text}${kv === '' ? '' : `: ${kv}`}\n`;
}

export interface MonitorSink {
  readonly level: LogLevel;
  readonly json: boolean;
  write(line: string): void;
}

/** The open monitors; `publish` is called for every log line. */
export class LogMonitors {
  private readonly sinks = new Set<MonitorSink>();

  add(sink: MonitorSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  get size(): number {
    return this.sinks.size;
  }

  publish(level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void {
    if (this.sinks.size === 0) return;
    const now = Date.now();
    for (const sink of this.sinks) {
      if (RANK[level] < RANK[sink.level]) continue;
      sink.write(formatLogLine(level, message, fields, sink.json, now));
    }
  }
}
