/**
 * Intrusive doubly linked lists of item refs, threaded through two u32 fields of each item.
 * Thread: the lock holder (L1, no allocation). Used for class LRU lists and free lists
 * (fields I_LRU_PREV/I_LRU_NEXT) and for timing-wheel slots (I_WHEEL_PREV/I_WHEEL_NEXT).
 * A list is a head word and, optionally, a tail word (pass -1 for no tail) somewhere in the
 * slab. Invariant: for every member r, next[prev[r]] === r and prev[next[r]] === r, with 0
 * standing for "none" at both ends; head's prev and tail's next are 0.
 */

/** Inserts `ref` at the head. */
export function pushHead (words: Uint32Array, headWord: number, tailWord: number, ref: number, prevField: number, nextField: number): void {
  const head = words[headWord]!
  words[ref * 2 + prevField] = 0
  words[ref * 2 + nextField] = head
  if (head !== 0) words[head * 2 + prevField] = ref
  else if (tailWord >= 0) words[tailWord] = ref
  words[headWord] = ref
}

/** Unlinks `ref`, which must be a member. Leaves its own links zeroed. */
export function unlink (words: Uint32Array, headWord: number, tailWord: number, ref: number, prevField: number, nextField: number): void {
  const prev = words[ref * 2 + prevField]!
  const next = words[ref * 2 + nextField]!
  if (prev !== 0) words[prev * 2 + nextField] = next
  else words[headWord] = next
  if (next !== 0) words[next * 2 + prevField] = prev
  else if (tailWord >= 0) words[tailWord] = prev
  words[ref * 2 + prevField] = 0
  words[ref * 2 + nextField] = 0
}

/** Moves member `ref` to the head (most recent end). */
export function moveToHead (words: Uint32Array, headWord: number, tailWord: number, ref: number, prevField: number, nextField: number): void {
  if (words[headWord] === ref) return
  unlink(words, headWord, tailWord, ref, prevField, nextField)
  pushHead(words, headWord, tailWord, ref, prevField, nextField)
}
