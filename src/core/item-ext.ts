/**
 * Item extension block and tag records: the byte layout of an item's tags and content type, and
 * of the per-(tenant, tag) record that lists the items carrying a tag.
 * Thread: any (pure layout arithmetic over slab words, L1, no allocation).
 * Invariants (checked by slab-check.ts, rebuilt by slab-repair.ts): an item with META_EXT has
 * the block below; each of its tag nodes is on exactly one record's member list, the record of
 * a distinct tag of the item's tenant; a record exists only while it has members (outside a
 * mutation), its R_COUNT is its list's length, and it is on its bucket's hash chain under the
 * identity (tenant, tag length, KIND_ITEM, META_TAG_RECORD), never on an LRU or the wheel.
 *
 *  item with META_EXT (offsets from the item start)
 *   0                      48-byte header (unchanged)
 *   48                     key bytes
 *   extOffset(keyLength)   ext header, 8 bytes: u32 tagCount (16 bits) | contentTypeLength << 16
 *                                                u32 reserved (0)
 *   + 8                    tagCount × 16-byte tag nodes, each 8-aligned (a node ref is its byte
 *                          offset / 8, like an item ref):  u32 record ref  (N_RECORD)
 *                                                          u32 prev node   (N_PREV)
 *                                                          u32 next node   (N_NEXT)
 *                                                          u32 owner item  (N_OWNER)
 *   + 16 × tagCount        content type bytes
 *   = dataOffset           value bytes (inline), or the chunk-ref list at align(dataOffset, 4)
 *  An item without META_EXT has dataOffset = 48 + keyLength, exactly as before: the untagged
 *  read path costs one test of the meta bit.
 *
 *  tag record (a chunk in its size class; key = tag name)
 *   I_LRU_PREV  → R_HEAD   newest member node      I_HASH_NEXT  bucket chain
 *   I_LRU_NEXT  → R_TAIL   oldest member node      I_VALUE_LEN  → R_COUNT member count
 *   F_EXPIRY 0, F_CAS 0, I_FLAGS 0; meta = tag length | tenant | KIND_ITEM | META_TAG_RECORD
 *  During a set, R_COUNT also counts the set's reservation (so evictions made to find room for
 *  the new item cannot free a record it is about to join); the reservation becomes the
 *  membership at commit. Record chunks are charged to their tenant's bytes (T_BYTES) and to
 *  H_CHUNK_BYTES, not to item counts.
 */
import { ITEM_HEADER_BYTES, I_LRU_NEXT, I_LRU_PREV, I_VALUE_LEN, META_EXT, META_KEY_MASK, align } from './slab-layout.js'

export const EXT_HEADER_BYTES = 8
export const TAG_NODE_BYTES = 16
/** Most tags one item can carry (the format allows 65535; config limits it further). */
export const MAX_ITEM_TAGS = 255
/** Longest content type stored with an item. */
export const MAX_CONTENT_TYPE_BYTES = 255

/** u32 fields of a tag node (index = nodeRef * 2 + N_*). */
export const N_RECORD = 0
export const N_PREV = 1
export const N_NEXT = 2
export const N_OWNER = 3

/** u32 fields of a tag record (index = recordRef * 2 + R_*). */
export const R_HEAD = I_LRU_PREV
export const R_TAIL = I_LRU_NEXT
export const R_COUNT = I_VALUE_LEN

/** Offset of the ext header from the item start (8-aligned, so nodes are 8-aligned). */
export function extOffset (keyLength: number): number {
  return align(ITEM_HEADER_BYTES + keyLength, 8)
}

/** Ext header word for `tagCount` tags and a content type of `contentTypeLength` bytes. */
export function extHeader (tagCount: number, contentTypeLength: number): number {
  return (tagCount | (contentTypeLength << 16)) >>> 0
}

/** Where the value (or the unaligned chunk list) starts in a new item with this metadata. */
export function newDataOffset (keyLength: number, tagCount: number, contentTypeLength: number): number {
  if (tagCount === 0 && contentTypeLength === 0) return ITEM_HEADER_BYTES + keyLength
  return extOffset(keyLength) + EXT_HEADER_BYTES + tagCount * TAG_NODE_BYTES + contentTypeLength
}

/** u32 index of item `ref`'s ext header word (the item has META_EXT). */
export function extWord (ref: number, keyLength: number): number {
  return ref * 2 + extOffset(keyLength) / 4
}

/** Tag count of item `ref` (META_EXT set). */
export function tagCountOf (words: Uint32Array, ref: number, keyLength: number): number {
  return words[extWord(ref, keyLength)]! & 0xffff
}

/** Content type length of item `ref` (META_EXT set). */
export function contentTypeLengthOf (words: Uint32Array, ref: number, keyLength: number): number {
  return (words[extWord(ref, keyLength)]! >>> 16) & 0xff
}

/** Ref of item `ref`'s tag node `i`. */
export function tagNode (ref: number, keyLength: number, i: number): number {
  return ref + (extOffset(keyLength) + EXT_HEADER_BYTES + i * TAG_NODE_BYTES) / 8
}

/** Byte offset, from the item start, of item `ref`'s content type. */
export function contentTypeOffset (words: Uint32Array, ref: number, keyLength: number): number {
  return extOffset(keyLength) + EXT_HEADER_BYTES + tagCountOf(words, ref, keyLength) * TAG_NODE_BYTES
}

/**
 * Where item `ref`'s value (inline) or unaligned chunk-ref list starts, from its meta word.
 * On garbage (a torn lock-free read) the result is bounded (< 1.1 MiB) and the caller checks it
 * against the chunk size.
 */
export function dataOffset (words: Uint32Array, ref: number, meta: number): number {
  const keyLength = meta & META_KEY_MASK
  if ((meta & META_EXT) === 0) return ITEM_HEADER_BYTES + keyLength
  const header = words[extWord(ref, keyLength)]!
  return extOffset(keyLength) + EXT_HEADER_BYTES + (header & 0xffff) * TAG_NODE_BYTES + ((header >>> 16) & 0xff)
}

/** Where a chunked item's chunk-ref list starts, from its dataOffset. */
export function chunkListAt (data: number): number {
  return align(data, 4)
}
