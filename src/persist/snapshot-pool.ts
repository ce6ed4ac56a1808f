/**
 * The piscina pool that runs the snapshot jobs (src/jobs/snapshot-job.ts, loaded from dist/ like
 * the shard worker), and typed calls into it. Thread: main.
 * Threads start on first use and end after a while idle; `close` ends them. A job thread that
 * dies makes its call reject (the caller cleans up its temp file); it holds no slab lock.
 */
import { Piscina } from 'piscina'
import { SlabcacheError } from '../errors.js'
import type { ReadSnapshotResult, ReadSnapshotTask, WriteBlockTask } from '../jobs/snapshot-job.js'
import type { LoadOrder } from './snapshot-order.js'
import type { VerifiedSnapshot } from './snapshot-verify.js'

const JOB_URL = new URL('../../dist/jobs/snapshot-job.js', import.meta.url)

export class SnapshotPool {
  readonly #pool = new Piscina({ filename: JOB_URL.href, minThreads: 0, maxThreads: 2, idleTimeout: 5_000 })

  /** Frames, checksums and writes one block at `task.position`; `task.payload`'s buffer is transferred. */
  async writeBlock (task: WriteBlockTask): Promise<number> {
    return await this.#pool.run(task, { name: 'writeBlock', transferList: [task.payload.buffer as ArrayBuffer] }) as number
  }

  /**
   * Reads and verifies `task.file` completely and works out its load order; throws the
   * file's SlabcacheError if it is refused.
   */
  async readSnapshot (task: ReadSnapshotTask): Promise<{ bytes: Buffer, snapshot: VerifiedSnapshot, order: LoadOrder }> {
    const result = await this.#pool.run(task, { name: 'readSnapshot' }) as ReadSnapshotResult
    if (result.error !== null) throw new SlabcacheError(result.error.code, result.error.message)
    return { bytes: Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength), snapshot: result.snapshot, order: result.order }
  }

  async close (): Promise<void> { await this.#pool.destroy() }
}
