/**
 * The fault-free reference: what honest map and reduce attempts output in the simulation (task
 * outputs are digests, not bytes), and so what a job run without faults commits.
 */
import { createHash } from 'node:crypto';

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function honestMapDigest(jobId: string, mapIndex: number, partition: number): string {
  return sha256(`${jobId}/${mapIndex}/${partition}`);
}

export function honestMapSize(mapIndex: number, partition: number): number {
  return 100 + 10 * mapIndex + partition;
}

/** A reduce's output is a function of the inputs it verified: the digests, in map order. */
export function reduceDigest(jobId: string, partition: number, inputs: readonly string[]): string {
  return sha256(`reduce/${jobId}/${partition}/${inputs.join(',')}`);
}

export function reduceSize(partition: number): number {
  return 1000 + partition;
}

export interface ExpectedFile {
  path: string;
  digest: string;
  size: number;
}

export function partPath(output: string, partition: number, kind: 'm' | 'r' = 'r'): string {
  return `${output}/part-${kind}-${String(partition).padStart(5, '0')}`;
}

/** What a run without faults commits: the reduces of the honest map outputs (a map-only job's: those outputs). */
export function referenceOutput(jobId: string, output: string, maps: number, reduces: number): ExpectedFile[] {
  if (reduces === 0) {
    return Array.from({ length: maps }, (_, m) => ({ path: partPath(output, m, 'm'), digest: honestMapDigest(jobId, m, 0), size: honestMapSize(m, 0) }));
  }
  return Array.from({ length: reduces }, (_, p) => ({
    path: partPath(output, p),
    digest: reduceDigest(jobId, p, Array.from({ length: maps }, (_, m) => honestMapDigest(jobId, m, p))),
    size: reduceSize(p),
  }));
}
