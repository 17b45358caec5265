/**
 * Where a figure's CPU goes, by process, from /proc: the bench's own children (the puller's
 * process, or psql), each PostgreSQL database's backends, PostgreSQL's own processes
 * (checkpointer, WAL writer, autovacuum) and MariaDB. On 2 cores a backfill's rows/s is
 * bounded by the sum of these per row, not by any one of them.
 *
 * Backends come and go with connection pools, so they are sampled (every 50 ms) and each
 * is charged to the database its command line names; what a backend used after its last
 * sample is known only in total (the postmaster's reaped-children time) and is charged to
 * "postgres, other", with the checkpointer, WAL writer and background writer. Autovacuum
 * workers are charged to `autovacuum <db>`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime+stime and cutime+cstime of a process, in seconds; undefined once it is gone. */
async function cpuOf(pid: number | 'self'): Promise<{ own: number; children: number; comm: string; ppid: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    // Fields after "pid (comm)": state is field 3, so field n is at index n - 3.
    const f = stat.slice(close + 2).split(' ');
    const at = (n: number) => Number(f[n - 3]);
    return { own: (at(14) + at(15)) / TICKS_PER_SECOND, children: (at(16) + at(17)) / TICKS_PER_SECOND, comm, ppid: at(4) };
  } catch {
    return undefined;
  }
}

/**
 * The group of a PostgreSQL process: the database a backend serves ("postgres: 15/main: user
 * db host(port) state"), `autovacuum <db>` for an autovacuum worker, undefined for
 * PostgreSQL's own processes.
 */
async function backendGroup(pid: number): Promise<string | undefined> {
  const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
  const autovacuum = /^postgres: [^:]+: autovacuum worker (\S+)/.exec(cmd);
  if (autovacuum) return `autovacuum ${autovacuum[1]}`;
  return /^postgres: [^:]+: (\S+) (\S+) (\S+\(\d+\)|\[local\]) /.exec(cmd)?.[2];
}

interface Seen {
  group: string;
  first: number;
  last: number;
}

/** CPU seconds per group while it runs: `stop()` ends the sampling and returns them. */
export class ProcessCpu {
  readonly #seen = new Map<number, Seen>();
  #postmaster = { pid: 0, start: 0 };
  #selfChildren = 0;
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> = Promise.resolve();

  static async start(): Promise<ProcessCpu> {
    const cpu = new ProcessCpu();
    cpu.#selfChildren = (await cpuOf('self'))!.children;
    await cpu.#sample(true);
    cpu.#timer = setInterval(() => { cpu.#sampling = cpu.#sampling.then(() => cpu.#sample(false)); }, 50);
    return cpu;
  }

  async #sample(first: boolean): Promise<void> {
    const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number);
    await Promise.all(pids.map(async (pid) => {
      const cpu = await cpuOf(pid);
      if (!cpu || (cpu.comm !== 'postgres' && cpu.comm !== 'mariadbd' && cpu.comm !== 'mysqld')) return;
      const known = this.#seen.get(pid);
      if (known) {
        known.last = cpu.own;
        return;
      }
      if (cpu.comm === 'postgres' && cpu.ppid === 1) this.#postmaster = { pid, start: cpu.children };
      const group = cpu.comm !== 'postgres' ? 'mariadb' : (await backendGroup(pid)) ?? 'postgres, other';
      // A process first seen after the start began within the measurement: all its time counts.
      this.#seen.set(pid, { group, first: first ? cpu.own : 0, last: cpu.own });
    }));
  }

  /** CPU seconds by group: `children` (the bench's own children: the puller, psql), each database, 'postgres, other', 'mariadb'. */
  async stop(): Promise<Record<string, number>> {
    clearInterval(this.#timer);
    await this.#sampling;
    await this.#sample(false);
    const out: Record<string, number> = { children: (await cpuOf('self'))!.children - this.#selfChildren };
    let sampledEnded = 0;
    for (const [pid, s] of this.#seen) {
      out[s.group] = (out[s.group] ?? 0) + (s.last - s.first);
      if (!(await cpuOf(pid))) sampledEnded += s.last;
    }
    // Backends that ended: the postmaster reaped their whole time; what the samples did not see goes to "other".
    const reaped = ((await cpuOf(this.#postmaster.pid))?.children ?? this.#postmaster.start) - this.#postmaster.start;
    out['postgres, other'] = (out['postgres, other'] ?? 0) + Math.max(0, reaped - sampledEnded);
    return out;
  }
}

/** Microseconds of CPU per row for each group, rounded, and their sum. */
export function perRow(seconds: Record<string, number>, rows: number, names: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [group, s] of Object.entries(seconds)) {
    const us = (s * 1e6) / rows;
    total += us;
    const name = names[group] ?? group;
    if (us >= 0.05) out[name] = Math.round(((out[name] ?? 0) + us) * 10) / 10;
  }
  out.total = Math.round(total * 10) / 10;
  return out;
}
