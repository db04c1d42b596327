import type { Logger } from "../common/logger.ts";
import type { DownloadProgress } from "./model-download.ts";

/** "[########------------]  40%  44.4/111.0 MB": one line, for a terminal or the dashboard. */
export function formatProgress(progress: Pick<DownloadProgress, "bytes" | "total">, width = 24): string {
  const fraction = progress.total > 0 ? Math.min(1, progress.bytes / progress.total) : 0;
  const filled = Math.round(fraction * width);
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${mb(progress.bytes)}/${mb(progress.total)} MB`;
}

export interface ProgressReporter {
  update(progress: DownloadProgress): void;
  done(): void;
}

/**
 * A progress bar redrawn in place (carriage return) on a terminal, at most every 100 ms; a plain
 * log line at every tenth otherwise (files, CloudWatch, `opsctl logs`).
 */
export function progressReporter(
  mode: "bar" | "lines",
  options: { logger: Logger; label: string; stream?: NodeJS.WritableStream; now?: () => number },
): ProgressReporter {
  const now = options.now ?? (() => performance.now());
  if (mode === "bar") {
    const stream = options.stream ?? process.stderr;
    let last = Number.NEGATIVE_INFINITY;
    let drawn = false;
    return {
      update(progress) {
        const t = now();
        if (t - last < 100 && progress.bytes < progress.total) return;
        last = t;
        drawn = true;
        stream.write(`\r${options.label} ${formatProgress(progress)}  ${progress.file}\u001b[K`);
      },
      done() {
        if (drawn) stream.write("\n");
      },
    };
  }
  let lastTenth = -1;
  return {
    update(progress) {
      const tenth = progress.total > 0 ? Math.floor((progress.bytes / progress.total) * 10) : 0;
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      options.logger.info(
        { file: progress.file, bytes: progress.bytes, total: progress.total },
        `${options.label} ${formatProgress(progress, 10)}`,
      );
    },
    done() {},
  };
}
