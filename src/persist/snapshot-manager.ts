/**
 * SnapshotManager: the one entry point for persistence — save (whole server or one tenant),
 * list, restore (on start and on demand), the optional interval, and close. Thread: main.
 * Owns: the snapshot directory `<dataDir>/snapshots/` (dump.slab, tenant-<id>.slab), the job
 * pool, and the rule that at most one snapshot or restore runs at a time (a second one is
 * refused with SNAPSHOT_IN_PROGRESS rather than queued: SAVE/BGSAVE callers expect that).
 * Constructed by server.ts (L5) with the ShardSet and the clock; the front ends receive it as
 * `server.snapshots`.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { SlabcacheError } from '../errors.js'
import { MAX_TENANTS } from '../core/slab-layout.js'
import type { ShardSet } from '../shard/shard-set.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/log.js'
import { HEADER_BYTES, TRAILER_BYTES, WHOLE_FILE, WHOLE_SERVER, decodeHeader, decodeTrailer, tenantFile } from './snapshot-format.js'
import { loadSnapshot, type LoadProgress } from './snapshot-loader.js'
import { SnapshotPool } from './snapshot-pool.js'
import { writeSnapshot } from './snapshot-writer.js'

export interface SnapshotInfo {
  /** Absolute path of the completed snapshot. */
  file: string
  /** null = whole server. */
  tenantId: number | null
  items: number
  bytes: number
  /** Wall-clock ms when the snapshot started. */
  createdMs: number
  durationMs: number
}

export interface RestoreInfo {
  file: string
  tenantId: number | null
  /** Items loaded (present after the restore). */
  items: number
  skippedExpired: number
  /** Items that did not fit: evicted by later (newer) ones, or refused (memory, quota, size limits). */
  evicted: number
  durationMs: number
}

export interface SnapshotManagerOptions {
  /** `<dataDir>`; snapshots live in its `snapshots/` subdirectory. */
  dataDir: string
  shards: ShardSet
  clock: Clock
  /** Interval between automatic whole-server snapshots; 0 = none. */
  intervalMs?: number
  logger?: Logger
}

export class SnapshotManager {
  /** Absolute path of the snapshot directory. */
  readonly dir: string
  readonly #shards: ShardSet
  readonly #clock: Clock
  readonly #logger: Logger | undefined
  readonly #pool = new SnapshotPool()
  #busy: Promise<unknown> | null = null
  #saving = false
  #lastSaveMs = 0
  #timer: NodeJS.Timeout | null = null
  #closed = false

  constructor (options: SnapshotManagerOptions) {
    this.dir = path.join(options.dataDir, 'snapshots')
    this.#shards = options.shards
    this.#clock = options.clock
    this.#logger = options.logger
    const intervalMs = options.intervalMs ?? 0
    if (intervalMs > 0) {
      this.#timer = setInterval(() => { this.#intervalSave() }, intervalMs)
      this.#timer.unref()
    }
  }

  /** Whether a snapshot is being written. */
  get saving (): boolean { return this.#saving }

  /** Wall-clock ms when the last successful whole-server save completed; 0 = none yet. */
  get lastSaveMs (): number { return this.#lastSaveMs }

  /** Takes a snapshot while serving. Rejects SNAPSHOT_IN_PROGRESS if one is already running. */
  async save (options: { tenantId?: number } = {}): Promise<SnapshotInfo> {
    const tenantId = checkTenant(options.tenantId)
    const file = path.join(this.dir, tenantId === null ? WHOLE_FILE : tenantFile(tenantId))
    return await this.#exclusive(async () => {
      this.#saving = true
      try {
        const written = await writeSnapshot(this.#shards, this.#pool, this.#clock, tenantId, file)
        if (tenantId === null) this.#lastSaveMs = this.#clock.nowMs()
        this.#logger?.info({ file, tenantId, items: written.items, bytes: written.bytes, durationMs: Math.round(written.durationMs) }, 'snapshot written')
        return { file, tenantId, ...written }
      } finally {
        this.#saving = false
      }
    })
  }

  /** Snapshots present in the data dir (whole and per tenant), newest first. Unreadable files are left out. */
  async list (): Promise<SnapshotInfo[]> {
    let names: string[]
    try {
      names = await fs.readdir(this.dir)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw new SlabcacheError('SNAPSHOT_IO', `snapshot directory ${this.dir} cannot be read: ${(error as Error).message}`)
    }
    const infos: SnapshotInfo[] = []
    for (const name of names) {
      if (name !== WHOLE_FILE && !/^tenant-\d+\.slab$/.test(name)) continue
      const info = await readInfo(path.join(this.dir, name))
      if (info !== null) infos.push(info)
    }
    return infos.sort((a, b) => b.createdMs - a.createdMs)
  }

  /**
   * Restores on demand. With tenantId: that tenant's items are replaced by the ones in the
   * tenant's own latest snapshot (or the whole snapshot if newer/only), other tenants untouched.
   * Without: the whole server's contents are replaced. The file is verified completely before
   * anything is changed (SNAPSHOT_CORRUPT / _TRUNCATED / _VERSION / _NOT_FOUND otherwise).
   */
  async restore (options: { tenantId?: number } = {}): Promise<RestoreInfo> {
    const tenantId = checkTenant(options.tenantId)
    return await this.#exclusive(async () => {
      const file = await this.#pickFile(tenantId)
      const started = performance.now()
      const { bytes, snapshot, order } = await this.#pool.readSnapshot({ file, tenantId, nowMs: this.#clock.nowMs() })
      if (snapshot.header.tenantId !== WHOLE_SERVER && snapshot.header.tenantId !== tenantId) {
        throw new SlabcacheError('SNAPSHOT_CORRUPT', `snapshot ${file} holds tenant ${snapshot.header.tenantId}, not ${tenantId ?? 'the whole server'}`)
      }
      this.#logger?.info({ file, tenantId, items: snapshot.trailer.items }, 'restoring snapshot')
      const onProgress = (progress: LoadProgress): void => { this.#logger?.info({ file, ...progress }, 'restore progress') }
      const loaded = await loadSnapshot(this.#shards, bytes, order, tenantId, onProgress)
      const info = { file, tenantId, ...loaded, durationMs: performance.now() - started }
      this.#logger?.info({ ...info, durationMs: Math.round(info.durationMs) }, 'snapshot restored')
      return info
    })
  }

  /**
   * Start-up restore: the whole snapshot if there is one; null if there is none. A damaged
   * file is an error (the server must not start empty and then overwrite it with a snapshot).
   */
  async restoreOnStart (): Promise<RestoreInfo | null> {
    await this.#removeStaleTemps()
    try {
      await fs.access(path.join(this.dir, WHOLE_FILE))
    } catch {
      return null
    }
    return await this.restore()
  }

  /** Resolves once no snapshot or restore is running (whatever their outcome). */
  async settle (): Promise<void> {
    while (this.#busy !== null) await this.#busy.catch(() => {})
  }

  /** Stops the interval, waits for a running snapshot or restore, and ends the job threads. */
  async close (): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#closed = true
    await this.#busy?.catch(() => {})
    await this.#pool.close()
  }

  /** Runs `work` unless another snapshot or restore is running (SNAPSHOT_IN_PROGRESS). */
  async #exclusive<T> (work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new SlabcacheError('SHUTTING_DOWN', 'snapshots are closed: the server is shutting down')
    if (this.#busy !== null) throw new SlabcacheError('SNAPSHOT_IN_PROGRESS', this.#saving ? 'a snapshot is already being written' : 'a restore is running')
    const running = work()
    this.#busy = running
    try {
      return await running
    } finally {
      this.#busy = null
    }
  }

  /** The whole snapshot, or for a tenant its own snapshot or the whole one, whichever is newer. */
  async #pickFile (tenantId: number | null): Promise<string> {
    const whole = path.join(this.dir, WHOLE_FILE)
    if (tenantId === null) {
      if (!await exists(whole)) throw new SlabcacheError('SNAPSHOT_NOT_FOUND', `no snapshot to restore: ${whole} does not exist`)
      return whole
    }
    const own = path.join(this.dir, tenantFile(tenantId))
    const [hasOwn, hasWhole] = [await exists(own), await exists(whole)]
    if (!hasOwn && !hasWhole) throw new SlabcacheError('SNAPSHOT_NOT_FOUND', `no snapshot to restore tenant ${tenantId} from: neither ${own} nor ${whole} exists`)
    if (!hasOwn) return whole
    if (!hasWhole) return own
    // Both: the newer one. A header that cannot be read picks its file, so verification names the damage.
    const ownMs = await createdMsOf(own)
    const wholeMs = await createdMsOf(whole)
    return ownMs >= wholeMs ? own : whole
  }

  /** Temp files a killed process left behind (`<name>.tmp-<pid>` of another pid). */
  async #removeStaleTemps (): Promise<void> {
    let names: string[]
    try { names = await fs.readdir(this.dir) } catch { return }
    for (const name of names) {
      if (/\.slab\.tmp-\d+$/.test(name) && !name.endsWith(`.tmp-${process.pid}`)) {
        await fs.rm(path.join(this.dir, name), { force: true })
        this.#logger?.info({ file: path.join(this.dir, name) }, 'removed an unfinished snapshot left by an earlier process')
      }
    }
  }

  #intervalSave (): void {
    if (this.#busy !== null) return
    this.save().catch((error: unknown) => { this.#logger?.error({ err: error }, 'interval snapshot failed') })
  }
}

function checkTenant (tenantId: number | undefined): number | null {
  if (tenantId === undefined) return null
  if (!Number.isSafeInteger(tenantId) || tenantId < 0 || tenantId >= MAX_TENANTS) {
    throw new SlabcacheError('BAD_REQUEST', `tenantId must be an integer from 0 to ${MAX_TENANTS - 1}; received ${tenantId}`)
  }
  return tenantId
}

async function exists (file: string): Promise<boolean> {
  try {
    await fs.access(file)
    return true
  } catch {
    return false
  }
}

/** The header's creation time, or +Infinity if the header cannot be read. */
async function createdMsOf (file: string): Promise<number> {
  const info = await readHead(file)
  return info === null ? Infinity : info.createdMs
}

async function readHead (file: string): Promise<{ createdMs: number, tenantId: number } | null> {
  try {
    const handle = await fs.open(file, 'r')
    try {
      const b = Buffer.alloc(HEADER_BYTES)
      const { bytesRead } = await handle.read(b, 0, HEADER_BYTES, 0)
      if (bytesRead < HEADER_BYTES) return null
      const header = decodeHeader(b)
      return 'fault' in header ? null : header
    } finally {
      await handle.close()
    }
  } catch {
    return null
  }
}

/** Header and trailer of `file` (not a full verification); null if either is unreadable. */
async function readInfo (file: string): Promise<SnapshotInfo | null> {
  try {
    const handle = await fs.open(file, 'r')
    try {
      const size = (await handle.stat()).size
      if (size < HEADER_BYTES + TRAILER_BYTES) return null
      const head = Buffer.alloc(HEADER_BYTES)
      await handle.read(head, 0, HEADER_BYTES, 0)
      const header = decodeHeader(head)
      if ('fault' in header) return null
      const tail = Buffer.alloc(TRAILER_BYTES)
      await handle.read(tail, 0, TRAILER_BYTES, size - TRAILER_BYTES)
      const trailer = decodeTrailer(tail, 0)
      if (trailer === null) return null
      return {
        file,
        tenantId: header.tenantId === WHOLE_SERVER ? null : header.tenantId,
        items: trailer.items,
        bytes: size,
        createdMs: header.createdMs,
        durationMs: trailer.durationMs
      }
    } finally {
      await handle.close()
    }
  } catch {
    return null
  }
}
