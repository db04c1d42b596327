import { open, stat } from "node:fs/promises";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";

/** The file `opsctl dev` appends every stage's JSON log lines to (one file; each line names its stage). */
export function localLogFile(dataDir: string): string {
  return path.join(dataDir, "logs", "dev.log");
}

export interface LogLine {
  at: string;
  level: string;
  stage: string | null;
  message: string;
  /** The whole record (JSON) for --json. */
  record: Record<string, unknown>;
}

const PINO_LEVELS: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/** Parses one pino JSON line (or a CloudWatch message); a non-JSON line is kept as its text. */
export function parseLogLine(text: string, fallbackAt?: number): LogLine {
  try {
    const record = JSON.parse(text) as Record<string, unknown>;
    const level =
      typeof record.level === "number"
        ? (PINO_LEVELS[record.level] ?? String(record.level))
        : String(record.level ?? "info");
    const time = record.time;
    const at =
      typeof time === "string"
        ? time
        : typeof time === "number"
          ? new Date(time).toISOString()
          : new Date(fallbackAt ?? 0).toISOString();
    return {
      at,
      level,
      stage: typeof record.stage === "string" ? record.stage : null,
      message: String(record.msg ?? ""),
      record,
    };
  } catch {
    return {
      at: new Date(fallbackAt ?? 0).toISOString(),
      level: "info",
      stage: null,
      message: text,
      record: { msg: text },
    };
  }
}

const BORING = new Set(["level", "time", "msg", "pid", "hostname", "service", "stage"]);

/** One line for people: time, level, stage, message, then the other fields as key=value. */
export function formatLogLine(line: LogLine): string {
  const extra = Object.entries(line.record)
    .filter(([key]) => !BORING.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return `${line.at.slice(11, 23)} ${line.level.toUpperCase().padEnd(5)} ${(line.stage ?? "-").padEnd(16)} ${line.message}${extra ? `  ${extra}` : ""}`;
}

/**
 * Reads a local log file's lines for one stage (or every stage with `stage` "all"), the last
 * `lines`; with `follow`, keeps reading what is appended until `signal` aborts.
 */
export async function readLocalLogs(
  file: string,
  options: { stage: string; lines: number; follow: boolean; signal: AbortSignal; pollMs?: number },
  emit: (line: LogLine) => void,
): Promise<void> {
  const matches = (line: LogLine) => options.stage === "all" || line.stage === options.stage;
  let position = 0;
  let carry = "";
  const readNew = async (): Promise<LogLine[]> => {
    const size = (await stat(file)).size;
    if (size < position) position = 0; // rotated or truncated: start over
    if (size === position) return [];
    const handle = await open(file, "r");
    try {
      const buffer = Buffer.alloc(size - position);
      await handle.read(buffer, 0, buffer.length, position);
      position = size;
      const text = carry + buffer.toString("utf8");
      const parts = text.split("\n");
      carry = parts.pop() ?? "";
      return parts
        .filter((part) => part.trim() !== "")
        .map((part) => parseLogLine(part))
        .filter(matches);
    } finally {
      await handle.close();
    }
  };
  const first = await readNew();
  for (const line of first.slice(-options.lines)) emit(line);
  while (options.follow && !options.signal.aborted) {
    await delay(options.pollMs ?? 500, undefined, { signal: options.signal }).catch(() => undefined);
    if (options.signal.aborted) break;
    for (const line of await readNew()) emit(line);
  }
}
