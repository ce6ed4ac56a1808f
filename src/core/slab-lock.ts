/**
 * SlabLock: the shard's write lock, its seqlock and its one-record journal, all Int32 words in
 * the slab header. Thread: every thread attached to the slab (each with its own owner id).
 * Owns: H_LOCK, H_LOCK_WAITERS, H_SEQ, H_JOURNAL_*.
 * Invariants: H_LOCK holds the id of the thread inside a mutation, or 0; H_SEQ is odd exactly
 * while a writer may be changing bucket chains or item bytes that a lock-free reader follows;
 * the journal is non-empty only while a mutation that repair must finish or undo is under way.
 * May block: `acquire()` spins, then parks in Atomics.wait (allowed on Node's main thread too).
 */
import { H_JOURNAL_OP, H_JOURNAL_REF_A, H_JOURNAL_REF_B, H_LOCK, H_LOCK_WAITERS, H_SEQ } from './slab-layout.js'
import type { SlabMemory } from './slab-memory.js'

/** Owner id of the main thread; workers use 2 + their shard generation. */
export const MAIN_THREAD_OWNER = 1

/** Journal op codes: what a crashed mutation was doing (see slab-repair.ts). */
export const J_NONE = 0
/** A set wrote item A (PENDING) to replace item B (or 0). Before commit: A is dropped. */
export const J_SET_PREPARE = 1
/** A set committed: A must end up live and B freed. */
export const J_SET_COMMIT = 2
/** Item A is being unlinked and freed. */
export const J_DELETE = 3
/** Page A is being formatted for a class: all its chunks are to be free. */
export const J_PAGE_FORMAT = 4

const LOCK = H_LOCK >>> 2
const WAITERS = H_LOCK_WAITERS >>> 2
const SEQ = H_SEQ >>> 2
const SPINS = 64

export class SlabLock {
  readonly ownerId: number
  readonly #words: Int32Array
  readonly #u32: Uint32Array
  readonly #timeoutMs: number

  constructor (memory: SlabMemory, ownerId: number, timeoutMs: number) {
    this.ownerId = ownerId
    this.#words = memory.atomicWords
    this.#u32 = memory.words
    this.#timeoutMs = timeoutMs
  }

  /**
   * Takes the lock. Returns false after about `timeoutMs` (the holder is dead or stuck: the
   * shard set decides which). Not reentrant.
   */
  acquire (): boolean {
    const words = this.#words
    // seq-cst CAS: everything the previous holder wrote before its release store is visible.
    if (Atomics.compareExchange(words, LOCK, 0, this.ownerId) === 0) return true
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(words, LOCK) === 0 && Atomics.compareExchange(words, LOCK, 0, this.ownerId) === 0) return true
    }
    // Park in 1 ms waits; counting waits instead of reading a clock keeps this module pure
    // (the shared clock does not move while its writer, the main thread, is parked here).
    for (let waited = 0; waited < this.#timeoutMs; waited++) {
      Atomics.add(words, WAITERS, 1)
      const holder = Atomics.load(words, LOCK)
      if (holder !== 0) Atomics.wait(words, LOCK, holder, 1)
      Atomics.sub(words, WAITERS, 1)
      if (Atomics.compareExchange(words, LOCK, 0, this.ownerId) === 0) return true
    }
    return false
  }

  /** Releases the lock; wakes one parked thread if any registered itself. */
  release (): void {
    // seq-cst store publishes every plain write made under the lock.
    Atomics.store(this.#words, LOCK, 0)
    if (Atomics.load(this.#words, WAITERS) !== 0) Atomics.notify(this.#words, LOCK, 1)
  }

  /** Current holder id, 0 if free. */
  holder (): number { return Atomics.load(this.#words, LOCK) }

  /**
   * Takes the lock from `deadOwner` (a thread known to have exited). Returns false if someone
   * else holds it or it is free (then nothing needs repair on its account).
   */
  seizeFrom (deadOwner: number): boolean {
    return Atomics.compareExchange(this.#words, LOCK, deadOwner, this.ownerId) === deadOwner
  }

  /** Starts a write that readers must not observe half done (seq becomes odd). */
  beginWrite (): void { Atomics.add(this.#words, SEQ, 1) }
  /** Ends it (seq becomes even); readers that overlapped it retry. */
  endWrite (): void { Atomics.add(this.#words, SEQ, 1) }
  /** Makes seq even again after a writer died mid-write (repair only). */
  resetSeq (): void {
    if ((Atomics.load(this.#words, SEQ) & 1) !== 0) Atomics.add(this.#words, SEQ, 1)
  }
  /** Reader side: the sequence before a read; odd means "retry". */
  readSeq (): number { return Atomics.load(this.#words, SEQ) }

  /** Records the mutation about to start; cleared by `journalClear`. Plain writes under the lock. */
  journal (op: number, refA: number, refB: number): void {
    const u32 = this.#u32
    u32[H_JOURNAL_REF_A >>> 2] = refA
    u32[H_JOURNAL_REF_B >>> 2] = refB
    u32[H_JOURNAL_OP >>> 2] = op
  }

  journalClear (): void { this.#u32[H_JOURNAL_OP >>> 2] = J_NONE }
  journalOp (): number { return this.#u32[H_JOURNAL_OP >>> 2]! }
  journalRefA (): number { return this.#u32[H_JOURNAL_REF_A >>> 2]! }
  journalRefB (): number { return this.#u32[H_JOURNAL_REF_B >>> 2]! }
}
