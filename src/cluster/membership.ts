/**
 * Membership: this node's view of the cluster's members, SWIM-style (full mesh, leaderless):
 * direct heartbeats for failure detection, gossip of every record for agreement, incarnation
 * numbers for refutation and restarts. Thread: main (L3 by location, but pure decision logic:
 * no sockets, no timers; time comes in as `nowMs`, the peer transport drives it).
 * Owns: the member table (self included) and its state machine:
 *
 *   joining ──markSelfUp──▶ up ──silent > suspectAfterMs──▶ suspect ──silent > deadAfterMs──▶ dead
 *      │                    ▲                                  │                              │
 *      │                    └──── its own record, incarnation+1 (refutation) ◀────────────────┘
 *      └──────────────▶ left (graceful; final for that incarnation)     forgotten after forgetDeadAfterMs
 *
 * Invariants:
 * - A record (id, incarnation, state) only ever replaces one it supersedes: higher incarnation,
 *   or equal incarnation and a later state in PRECEDENCE (joining < up < suspect < dead < left).
 *   Merging is therefore commutative, associative and idempotent: nodes that have seen the same
 *   records hold the same table, whatever order gossip came in.
 * - Only a member raises its own incarnation (to refute a suspicion, or by restarting: a node's
 *   incarnation starts at its start time), so only the member itself can undo suspect or dead;
 *   stale gossip can never resurrect a dead member at the incarnation it died with.
 * - Every state change is reported as a MemberChange exactly once, by the call that made it.
 */

export type MemberState = 'joining' | 'up' | 'suspect' | 'dead' | 'left'

/** What is gossiped about a member. */
export interface MemberRecord { id: string, address: string, state: MemberState, incarnation: number }

/** A member as this node sees it. */
export interface Member extends MemberRecord {
  /** When this node last had evidence the member is alive (see `heard` and `merge`). */
  lastHeardMs: number
  /** When this node saw the member enter its current state. */
  stateSinceMs: number
}

/** One state transition; `from` is null when the member was unknown before. */
export interface MemberChange { id: string, from: MemberState | null, to: MemberState }

export interface MembershipOptions {
  selfId: string
  /** The peer address (host:port) others dial to reach this node. */
  selfAddress: string
  /** Start time; also this node's first incarnation, so a restart supersedes the old self. */
  nowMs: number
  /** Silence after which an up or joining member is suspected. */
  suspectAfterMs: number
  /** Silence after which a suspect member is declared dead; > suspectAfterMs. */
  deadAfterMs: number
  /** True when this node must receive its data before serving: it starts 'joining'. */
  joining: boolean
  /** How long dead and left members are remembered (so stale gossip cannot re-add them); default 60 s. */
  forgetDeadAfterMs?: number
}

/** Default of MembershipOptions.forgetDeadAfterMs. */
export const FORGET_DEAD_AFTER_MS = 60_000

/**
 * Merge order of states at equal incarnation: a record wins over one with a lower rank. Also
 * the on-wire code of each state (member-codec.ts).
 */
export const PRECEDENCE: Readonly<Record<MemberState, number>> = Object.freeze({ joining: 0, up: 1, suspect: 2, dead: 3, left: 4 })

/** Every state, in PRECEDENCE order (index = rank = wire code). */
export const MEMBER_STATES: readonly MemberState[] = Object.freeze(['joining', 'up', 'suspect', 'dead', 'left'])

/** True when record `a` supersedes record `b` about the same member. */
export function supersedes (a: { state: MemberState, incarnation: number }, b: { state: MemberState, incarnation: number }): boolean {
  return a.incarnation > b.incarnation || (a.incarnation === b.incarnation && PRECEDENCE[a.state] > PRECEDENCE[b.state])
}

function isLive (state: MemberState): boolean {
  return state === 'joining' || state === 'up'
}

function copy (m: Member): Member {
  return { id: m.id, address: m.address, state: m.state, incarnation: m.incarnation, lastHeardMs: m.lastHeardMs, stateSinceMs: m.stateSinceMs }
}

function compareIds (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function checkTime (name: string, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number of ms; received ${String(value)}`)
}

/**
 * One node's member table. Not thread-safe (main thread only). Query methods return copies or
 * fresh arrays (they allocate); the tables are small (one entry per node).
 */
export class Membership {
  readonly selfId: string
  readonly #suspectAfterMs: number
  readonly #deadAfterMs: number
  readonly #forgetDeadAfterMs: number
  readonly #members = new Map<string, Member>()
  readonly #self: Member
  #epoch = 0

  constructor (options: MembershipOptions) {
    const { selfId, selfAddress, nowMs, suspectAfterMs, deadAfterMs, joining } = options
    const forgetDeadAfterMs = options.forgetDeadAfterMs ?? FORGET_DEAD_AFTER_MS
    if (typeof selfId !== 'string' || selfId.length === 0) throw new RangeError(`selfId must be a non-empty string; received ${JSON.stringify(selfId)}`)
    if (typeof selfAddress !== 'string') throw new RangeError(`selfAddress must be a string (host:port); received ${typeof selfAddress}`)
    if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new RangeError(`nowMs must be a non-negative integer of ms (it becomes the incarnation); received ${String(nowMs)}`)
    if (!(suspectAfterMs > 0)) throw new RangeError(`suspectAfterMs must be above 0; received ${String(suspectAfterMs)}`)
    if (!(deadAfterMs > suspectAfterMs)) throw new RangeError(`deadAfterMs must be longer than suspectAfterMs (${String(suspectAfterMs)} ms); received ${String(deadAfterMs)}`)
    if (!(forgetDeadAfterMs >= 0)) throw new RangeError(`forgetDeadAfterMs must be 0 or more; received ${String(forgetDeadAfterMs)}`)
    this.selfId = selfId
    this.#suspectAfterMs = suspectAfterMs
    this.#deadAfterMs = deadAfterMs
    this.#forgetDeadAfterMs = forgetDeadAfterMs
    this.#self = { id: selfId, address: selfAddress, state: joining ? 'joining' : 'up', incarnation: nowMs, lastHeardMs: nowMs, stateSinceMs: nowMs }
    this.#members.set(selfId, this.#self)
  }

  /** A copy of this node's own entry. */
  get self (): Member {
    return copy(this.#self)
  }

  /**
   * Bumped on every change to the table (a state change, a new or forgotten member, an
   * incarnation or address change), so a caller can rebuild derived data (the ring, links)
   * only when it moved.
   */
  get epoch (): number {
    return this.#epoch
  }

  /** A copy of a member's entry, or undefined when unknown (never heard of, or forgotten). */
  get (id: string): Member | undefined {
    const m = this.#members.get(id)
    return m === undefined ? undefined : copy(m)
  }

  /** A member's state without a copy (for per-request checks); undefined when unknown. */
  stateOf (id: string): MemberState | undefined {
    return this.#members.get(id)?.state
  }

  /** Every member, self included, sorted by id (copies). */
  members (): readonly Member[] {
    return this.#sorted().map(copy)
  }

  /** Ids that own/replicate data: up + suspect (self included when up/suspect). Sorted. */
  ringMembers (): string[] {
    return this.#sorted().filter((m) => m.state === 'up' || m.state === 'suspect').map((m) => m.id)
  }

  /** Ids in state joining, self included when joining (for the "future ring" of a joining node). Sorted. */
  joiningMembers (): string[] {
    return this.#sorted().filter((m) => m.state === 'joining').map((m) => m.id)
  }

  /**
   * Direct contact with a member (a heartbeat or any authenticated frame from it): refreshes
   * its lastHeardMs (never backwards), which is what keeps it from being suspected, and what
   * stops a suspect from being declared dead. It changes NO state: a suspect or dead member
   * becomes up again only through its own record at a higher incarnation (its refutation,
   * arriving by `merge`), so every node makes that decision from the same record. Unknown ids
   * and self are ignored (a member is added by `merge`, which brings its address).
   */
  heard (id: string, nowMs: number): void {
    checkTime('nowMs', nowMs)
    if (id === this.selfId) return
    const m = this.#members.get(id)
    if (m !== undefined && nowMs > m.lastHeardMs) m.lastHeardMs = nowMs
  }

  /**
   * Merge gossip (e.g. a heartbeat's records); returns the changes it made, in record order.
   * - About another member: an unknown member is added (lastHeardMs = nowMs: a grace period,
   *   so a member learned second-hand is not suspected before it could have been heard),
   *   unless the record says dead or left (nothing to do for it; see the comment there); a
   *   known one takes the record when it supersedes (see PRECEDENCE), address included. A
   *   superseding record in a live state (joining/up) counts as evidence of life and
   *   refreshes lastHeardMs: the member wrote it recently.
   * - About self: a record that would supersede ours claiming suspect, dead or left (or a live
   *   state at a higher incarnation, e.g. a previous life of this node) is refuted:
   *   self.incarnation = record.incarnation + 1, state unchanged; gossip then spreads the
   *   refutation. A leaving/left self does not refute dead or left claims (it is going anyway).
   * Records are validated first; a bad one throws RangeError and nothing is applied.
   */
  merge (records: readonly MemberRecord[], nowMs: number): MemberChange[] {
    checkTime('nowMs', nowMs)
    for (const r of records) {
      if (typeof r.id !== 'string' || r.id.length === 0) throw new RangeError(`member record id must be a non-empty string; received ${JSON.stringify(r.id)}`)
      if (!Object.hasOwn(PRECEDENCE, r.state)) throw new RangeError(`member record state must be one of ${MEMBER_STATES.join(', ')}; received ${JSON.stringify(r.state)}`)
      if (!Number.isSafeInteger(r.incarnation) || r.incarnation < 0) throw new RangeError(`member record incarnation must be a non-negative integer; received ${String(r.incarnation)}`)
      if (typeof r.address !== 'string') throw new RangeError(`member record address must be a string; received ${typeof r.address}`)
    }
    const changes: MemberChange[] = []
    for (const r of records) {
      if (r.id === this.selfId) {
        this.#refute(r)
        continue
      }
      const m = this.#members.get(r.id)
      if (m === undefined) {
        // Not adding news of an unknown member's death: after nodes forget a dead member at
        // slightly different times, each would re-learn it from the others' gossip and restart
        // its forget timer, and the record would circulate for ever.
        if (r.state === 'dead' || r.state === 'left') continue
        this.#members.set(r.id, { id: r.id, address: r.address, state: r.state, incarnation: r.incarnation, lastHeardMs: nowMs, stateSinceMs: nowMs })
        this.#epoch++
        changes.push({ id: r.id, from: null, to: r.state })
        continue
      }
      if (!supersedes(r, m)) continue
      const from = m.state
      m.incarnation = r.incarnation
      m.address = r.address
      if (isLive(r.state) && nowMs > m.lastHeardMs) m.lastHeardMs = nowMs
      this.#epoch++
      if (from !== r.state) {
        m.state = r.state
        m.stateSinceMs = nowMs
        changes.push({ id: r.id, from, to: r.state })
      }
    }
    return changes
  }

  /**
   * Failure detection, called periodically (each heartbeat interval): a joining or up member
   * silent for more than suspectAfterMs → suspect; a suspect silent for more than deadAfterMs
   * AND suspect for more than deadAfterMs − suspectAfterMs → dead. So a silent member is dead
   * after deadAfterMs of silence (plus up to two tick intervals of tick granularity), and a
   * member suspected on gossip or after a stall of THIS process (every member looks silent
   * after a long GC pause) always gets the suspect window to be heard and to refute. Dead
   * and left members are forgotten forgetDeadAfterMs after they entered that state (no
   * MemberChange: forgetting is not a state; `epoch` moves). Self is never suspected.
   * Returns the changes, sorted by id.
   */
  tick (nowMs: number): MemberChange[] {
    checkTime('nowMs', nowMs)
    if (nowMs > this.#self.lastHeardMs) this.#self.lastHeardMs = nowMs
    const changes: MemberChange[] = []
    for (const m of this.#sorted()) {
      if (m === this.#self) continue
      const silentMs = nowMs - m.lastHeardMs
      if (isLive(m.state)) {
        if (silentMs > this.#suspectAfterMs) changes.push(this.#transition(m, 'suspect', nowMs))
      } else if (m.state === 'suspect') {
        if (silentMs > this.#deadAfterMs && nowMs - m.stateSinceMs > this.#deadAfterMs - this.#suspectAfterMs) {
          changes.push(this.#transition(m, 'dead', nowMs))
        }
      } else if (nowMs - m.stateSinceMs > this.#forgetDeadAfterMs) {
        this.#members.delete(m.id)
        this.#epoch++
      }
    }
    return changes
  }

  /** Self: joining → up (after receiving its data). No change (and []) in any other state. */
  markSelfUp (nowMs: number): MemberChange[] {
    checkTime('nowMs', nowMs)
    if (this.#self.state !== 'joining') return []
    return [this.#transition(this.#self, 'up', nowMs)]
  }

  /**
   * Self: → left (graceful leave; gossip the records so every member drops this node from its
   * ring). Final for this incarnation: a later start of this node comes back with a new one.
   * [] when already left.
   */
  markSelfLeft (nowMs: number): MemberChange[] {
    checkTime('nowMs', nowMs)
    if (this.#self.state === 'left') return []
    return [this.#transition(this.#self, 'left', nowMs)]
  }

  /** What to gossip: every record (self included, dead and left too, so they stay dead), sorted by id. */
  records (): MemberRecord[] {
    return this.#sorted().map((m) => ({ id: m.id, address: m.address, state: m.state, incarnation: m.incarnation }))
  }

  /**
   * Members to heartbeat: every other member not dead/left (joining and suspect included: a
   * suspect must receive our records to learn it is suspected and refute), sorted by id.
   */
  heartbeatTargets (): Array<{ id: string, address: string }> {
    return this.#sorted()
      .filter((m) => m !== this.#self && m.state !== 'dead' && m.state !== 'left')
      .map((m) => ({ id: m.id, address: m.address }))
  }

  /**
   * Dead members (not left), sorted by id: the transport should send them our records now and
   * then (every few seconds), not every heartbeat. A member wrongly declared dead (a partition
   * that healed, a long stall on its side) stops receiving heartbeats, so without this it
   * would never learn it is dead and never refute, and two halves that each declared the other
   * dead would stay split.
   */
  probeTargets (): Array<{ id: string, address: string }> {
    return this.#sorted()
      .filter((m) => m.state === 'dead')
      .map((m) => ({ id: m.id, address: m.address }))
  }

  #sorted (): Member[] {
    return [...this.#members.values()].sort((a, b) => compareIds(a.id, b.id))
  }

  #transition (m: Member, to: MemberState, nowMs: number): MemberChange {
    const change: MemberChange = { id: m.id, from: m.state, to }
    m.state = to
    m.stateSinceMs = nowMs
    this.#epoch++
    return change
  }

  /** A record about self: raise our incarnation above it when it would otherwise win. */
  #refute (r: MemberRecord): void {
    const self = this.#self
    if (!supersedes(r, self)) return
    if (self.state === 'left' && (r.state === 'dead' || r.state === 'left')) return
    self.incarnation = r.incarnation + 1
    this.#epoch++
  }
}
