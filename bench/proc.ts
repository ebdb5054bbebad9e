/** What the benchmarks read of another process from /proc: its CPU time and its resident memory. */
import { readFileSync } from 'node:fs';

/** utime + stime of a process from /proc, in µs (clock ticks of 10 ms; summed over slices the error averages out). */
export function procCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

/** VmRSS of a process, in MB. */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}
