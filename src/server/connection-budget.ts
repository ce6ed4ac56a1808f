/**
 * ConnectionBudget: the one count of open client connections shared by every TCP front end
 * (RESP, memcached), checked against `limits.maxConnections`. Thread: main.
 * Invariant: `open` equals the connections admitted and not yet released; a connection is
 * admitted only while open < max, so open never exceeds max.
 */
export class ConnectionBudget {
  readonly max: number
  #open = 0

  constructor (max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer; received ${max}`)
    this.max = max
  }

  get open (): number { return this.#open }

  /** Admits one connection if the budget allows; the caller must `release()` it exactly once. */
  tryAdmit (): boolean {
    if (this.#open >= this.max) return false
    this.#open++
    return true
  }

  release (): void {
    if (this.#open === 0) throw new Error('ConnectionBudget.release() without a matching tryAdmit()')
    this.#open--
  }
}
