/**
 * HTTP conditional requests over the item's CAS: the ETag is the CAS in quotes, `If-None-Match`
 * on reads answers 304, `If-Match` / `If-None-Match: *` on writes become the set command's
 * CAS / REPLACE / ADD modes, so the check and the write are one atomic store operation.
 * Thread: main (pure helpers; no I/O).
 */

/** A parsed `If-Match` / `If-None-Match` header. */
export interface EtagList {
  /** `*`: any current item matches. */
  readonly any: boolean
  /** The CAS values named; entity tags that are not ours (not a decimal CAS) never match. */
  readonly cas: readonly number[]
}

/** The ETag header value for a CAS. */
export function etagOf (cas: number): string {
  return `"${cas}"`
}

/** Parses an If-Match / If-None-Match value ('' → null: no condition). Weak tags compare by value. */
export function parseEtags (header: string): EtagList | null {
  if (header.length === 0) return null
  const trimmed = header.trim()
  if (trimmed === '') return null
  if (trimmed === '*') return { any: true, cas: [] }
  const cas: number[] = []
  for (const part of trimmed.split(',')) {
    const match = /^\s*(?:W\/)?"([0-9]{1,16})"\s*$/.exec(part)
    if (match !== null) cas.push(Number(match[1]))
  }
  return { any: false, cas }
}

/** True when the current item (with `cas`) matches the list. */
export function etagMatches (list: EtagList, cas: number): boolean {
  return list.any || list.cas.includes(cas)
}
