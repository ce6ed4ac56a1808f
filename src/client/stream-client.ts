/**
 * StreamClient: a typed, promise-based client of slabcache's WebSocket stream (/v1/stream:
 * memcached binary frames in binary WebSocket messages). Thread: the caller's (Node with the
 * `ws` package, or a browser's WebSocket). Owns: one WebSocket, the requests awaiting replies,
 * and the frames queued for the next message.
 * Pipelining: every call sends at once (frames queued in one microtask go out as one message,
 * cut into messages of at most `maxMessageBytes`) and returns a Promise matched to its reply by
 * opaque. The server answers in request order and quiet requests answer only on failure (quiet
 * gets: only on a hit), so a reply for opaque n also settles every quiet request before it.
 * Errors: a non-success status rejects with StreamStatusError carrying it (a miss is null or
 * false where that is the natural answer); a closed stream rejects with StreamClosedError.
 */
import { StreamClosedError, StreamStatusError } from './stream-errors.js'
import {
  Opcode, ResponseReader, Status, counterExtras, encodeRequest, storeExtras, taggedValue, toBytes, u32Extras, type Response
} from './stream-protocol.js'

/** The part of a WebSocket (browser or `ws`) the client uses. */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  send: (data: Uint8Array) => void
  close: (code?: number, reason?: string) => void
  addEventListener: (type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void) => void
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface StreamItem {
  value: Uint8Array
  flags: number
  /** The item's CAS (< 2^53). */
  cas: number
}

export interface StoreOptions {
  /** Client flags stored with the item (u32). */
  flags?: number
  /** memcached expiration: 0 never, ≤ 30 days seconds from now, else a Unix time. */
  exptime?: number
  /** Compare-and-swap: store only if the item's CAS is this. */
  cas?: number
}

export interface CounterOptions {
  /** Created with this value when absent; without it an absent key answers null. */
  initial?: bigint | number
  exptime?: number
}

export interface StreamClientOptions {
  /** The WebSocket class (Node: `import WebSocket from 'ws'`); default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor
  /** Largest message sent; longer batches (and frames) are split. Keep ≤ the server's request limit. */
  maxMessageBytes?: number
}

const Kind = { VALUE: 0, STORED: 1, BOOL: 2, COUNTER: 3, VOID: 4, TEXT: 5, STATS: 6 } as const
type Kind = typeof Kind[keyof typeof Kind]

interface Pending {
  readonly opaque: number
  readonly opcode: number
  readonly quiet: boolean
  readonly kind: Kind
  readonly resolve: (value: any) => void
  readonly reject: (error: Error) => void
  stats?: Map<string, string>
}

const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
/** INCREMENT/DECREMENT expiration meaning "do not create a missing key". */
const NO_CREATE = 0xffffffff
const decoder = new TextDecoder()
const OPEN = 1

export class StreamClient {
  readonly #socket: WebSocketLike
  readonly #reader = new ResponseReader()
  readonly #maxMessageBytes: number
  #pending: Pending[] = []
  #head = 0
  #opaque = 0
  #outgoing: Uint8Array[] = []
  #outgoingBytes = 0
  #flushScheduled = false
  #closed: StreamClosedError | null = null
  readonly #closedPromise: Promise<void>

  /** Wraps an open (or opening) WebSocket; see connect(). */
  constructor (socket: WebSocketLike, options: StreamClientOptions = {}) {
    this.#socket = socket
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    socket.binaryType = 'arraybuffer'
    socket.addEventListener('message', (event: { data: unknown }) => this.#onMessage(event.data))
    this.#closedPromise = new Promise((resolve) => {
      socket.addEventListener('close', (event: { code?: number, reason?: string }) => {
        this.#fail(new StreamClosedError(event.code ?? 1006, event.reason ?? ''))
        resolve()
      })
    })
  }

  /** Opens `url` (ws://host:port/v1/stream) and resolves once the WebSocket is open. */
  static async connect (url: string, options: StreamClientOptions = {}): Promise<StreamClient> {
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WebSocketClass === undefined) throw new TypeError('no WebSocket class: pass options.WebSocket (Node: the ws package)')
    const socket = new WebSocketClass(url)
    const client = new StreamClient(socket, options)
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve())
      socket.addEventListener('error', (event: { message?: string }) => reject(new StreamClosedError(1006, event.message ?? 'connection failed')))
      socket.addEventListener('close', (event: { code?: number, reason?: string }) => reject(new StreamClosedError(event.code ?? 1006, event.reason ?? '')))
    })
    return client
  }

  /** Requests sent and not yet answered. */
  get inFlight (): number { return this.#pending.length - this.#head }

  /** Resolves when the WebSocket has closed. */
  get closed (): Promise<void> { return this.#closedPromise }

  async get (key: string | Uint8Array): Promise<StreamItem | null> {
    return await this.#request(Opcode.GET, Kind.VALUE, null, key, null)
  }

  /** Several keys in one quiet batch (GETKQ… NOOP): only hits come back. */
  async getMany (keys: ReadonlyArray<string | Uint8Array>): Promise<Array<StreamItem | null>> {
    const replies = keys.map(async (key) => await this.#request<StreamItem | null>(Opcode.GETKQ, Kind.VALUE, null, key, null))
    await this.noop()
    return await Promise.all(replies)
  }

  /** Touches and reads: the item with its new expiration, or null. */
  async gat (key: string | Uint8Array, exptime: number): Promise<StreamItem | null> {
    return await this.#request(Opcode.GAT, Kind.VALUE, u32Extras(exptime), key, null)
  }

  /** Stores; resolves with the new CAS. */
  async set (key: string | Uint8Array, value: string | Uint8Array, options: StoreOptions = {}): Promise<number> {
    return await this.#store(Opcode.SET, key, value, options)
  }

  /** Stores only if absent (else StreamStatusError KEY_EXISTS). */
  async add (key: string | Uint8Array, value: string | Uint8Array, options: StoreOptions = {}): Promise<number> {
    return await this.#store(Opcode.ADD, key, value, options)
  }

  /** Stores only if present (else StreamStatusError KEY_NOT_FOUND). */
  async replace (key: string | Uint8Array, value: string | Uint8Array, options: StoreOptions = {}): Promise<number> {
    return await this.#store(Opcode.REPLACE, key, value, options)
  }

  async append (key: string | Uint8Array, value: string | Uint8Array, cas = 0): Promise<number> {
    return await this.#request(Opcode.APPEND, Kind.STORED, null, key, toBytes(value), cas)
  }

  async prepend (key: string | Uint8Array, value: string | Uint8Array, cas = 0): Promise<number> {
    return await this.#request(Opcode.PREPEND, Kind.STORED, null, key, toBytes(value), cas)
  }

  /**
   * SETQ: no reply on success. Settles when a later non-quiet request's reply arrives (follow a
   * batch with noop()); rejects with the error if the store failed.
   */
  async setQuiet (key: string | Uint8Array, value: string | Uint8Array, options: StoreOptions = {}): Promise<void> {
    await this.#request(Opcode.SETQ, Kind.STORED, storeExtras(options.flags ?? 0, options.exptime ?? 0), key, toBytes(value), options.cas ?? 0)
  }

  /**
   * Stores with exactly these tags, replacing the key's old ones (TAG_SET, a slabcache
   * extension); resolves with the new CAS. Tag limits reject with INVALID_ARGUMENTS.
   */
  async setTagged (key: string | Uint8Array, value: string | Uint8Array, tags: ReadonlyArray<string | Uint8Array>, options: StoreOptions = {}): Promise<number> {
    return await this.#request(Opcode.TAG_SET, Kind.STORED, storeExtras(options.flags ?? 0, options.exptime ?? 0), key, taggedValue(tags, toBytes(value)), options.cas ?? 0)
  }

  /** Removes every key of this connection's tenant carrying `tag` (TAG_INVALIDATE); resolves with how many. */
  async invalidateTag (tag: string | Uint8Array): Promise<number> {
    const removed: bigint = await this.#request(Opcode.TAG_INVALIDATE, Kind.COUNTER, null, tag, null)
    return Number(removed)
  }

  /** Removes the key: true, or false if it was absent. */
  async delete (key: string | Uint8Array, cas = 0): Promise<boolean> {
    return await this.#request(Opcode.DELETE, Kind.BOOL, null, key, null, cas)
  }

  /** DELETEQ: settles like setQuiet (a miss is an error reply, so it rejects with KEY_NOT_FOUND). */
  async deleteQuiet (key: string | Uint8Array): Promise<void> {
    await this.#request(Opcode.DELETEQ, Kind.VOID, null, key, null)
  }

  /** Adds `delta` (unsigned 64-bit, wraps); null if absent and no `initial` was given. */
  async incr (key: string | Uint8Array, delta: bigint | number = 1n, options: CounterOptions = {}): Promise<bigint | null> {
    return await this.#counter(Opcode.INCREMENT, key, delta, options)
  }

  /** Subtracts `delta`, stopping at 0; null if absent and no `initial` was given. */
  async decr (key: string | Uint8Array, delta: bigint | number = 1n, options: CounterOptions = {}): Promise<bigint | null> {
    return await this.#counter(Opcode.DECREMENT, key, delta, options)
  }

  /** Sets the expiration: true, or false if the key is absent. */
  async touch (key: string | Uint8Array, exptime: number): Promise<boolean> {
    return await this.#request(Opcode.TOUCH, Kind.BOOL, u32Extras(exptime), key, null)
  }

  /** Removes every item of this connection's tenant, now or after `delaySeconds`. */
  async flush (delaySeconds = 0): Promise<void> {
    await this.#request(Opcode.FLUSH, Kind.VOID, delaySeconds > 0 ? u32Extras(delaySeconds) : null, null, null)
  }

  async version (): Promise<string> {
    return await this.#request(Opcode.VERSION, Kind.TEXT, null, null, null)
  }

  /** Answers once every earlier request has been answered (it ends a quiet batch). */
  async noop (): Promise<void> {
    await this.#request(Opcode.NOOP, Kind.VOID, null, null, null)
  }

  /** General stats ('') or a group; name → value. */
  async stats (group = ''): Promise<Map<string, string>> {
    return await this.#request(Opcode.STAT, Kind.STATS, null, group === '' ? null : group, null)
  }

  /** SASL PLAIN: this connection's commands then run as the credentials' tenant. */
  async saslPlain (user: string, password: string): Promise<void> {
    const message = toBytes(`\u0000${user}\u0000${password}`)
    await this.#request(Opcode.SASL_AUTH, Kind.VOID, null, 'PLAIN', message)
  }

  /** Sends QUIT and waits for the server to close the stream. */
  async quit (): Promise<void> {
    if (this.#closed === null) await this.#request(Opcode.QUIT, Kind.VOID, null, null, null)
    await this.#closedPromise
  }

  /** Closes the WebSocket; requests in flight reject with StreamClosedError. */
  async close (): Promise<void> {
    this.#flush()
    if (this.#socket.readyState <= OPEN) this.#socket.close(1000, 'client closed')
    await this.#closedPromise
  }

  async #store (opcode: number, key: string | Uint8Array, value: string | Uint8Array, options: StoreOptions): Promise<number> {
    return await this.#request(opcode, Kind.STORED, storeExtras(options.flags ?? 0, options.exptime ?? 0), key, toBytes(value), options.cas ?? 0)
  }

  async #counter (opcode: number, key: string | Uint8Array, delta: bigint | number, options: CounterOptions): Promise<bigint | null> {
    const initial = options.initial === undefined ? 0n : BigInt(options.initial)
    const exptime = options.initial === undefined ? NO_CREATE : options.exptime ?? 0
    return await this.#request(opcode, Kind.COUNTER, counterExtras(BigInt(delta), initial, exptime), key, null)
  }

  /** Queues one frame and the Promise of its reply. */
  async #request<T> (opcode: number, kind: Kind, extras: Uint8Array | null, key: string | Uint8Array | null, value: Uint8Array | null, cas = 0): Promise<T> {
    if (this.#closed !== null) throw this.#closed
    const opaque = this.#opaque = (this.#opaque + 1) >>> 0
    const quiet = QUIET.has(opcode)
    const frame = encodeRequest(opcode, opaque, extras, key === null ? null : toBytes(key), value, cas)
    const reply = new Promise<T>((resolve, reject) => {
      this.#pending.push({ opaque, opcode, quiet, kind, resolve, reject })
    })
    this.#outgoing.push(frame)
    this.#outgoingBytes += frame.length
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      queueMicrotask(() => this.#flush())
    }
    return await reply
  }

  /** Sends the queued frames as one message, or several of at most maxMessageBytes. */
  #flush (): void {
    this.#flushScheduled = false
    if (this.#outgoing.length === 0 || this.#closed !== null) return
    let batch: Uint8Array
    if (this.#outgoing.length === 1) {
      batch = this.#outgoing[0]!
    } else {
      batch = new Uint8Array(this.#outgoingBytes)
      let offset = 0
      for (const frame of this.#outgoing) {
        batch.set(frame, offset)
        offset += frame.length
      }
    }
    this.#outgoing = []
    this.#outgoingBytes = 0
    for (let offset = 0; offset < batch.length; offset += this.#maxMessageBytes) {
      this.#socket.send(batch.subarray(offset, Math.min(batch.length, offset + this.#maxMessageBytes)))
    }
  }

  #onMessage (data: unknown): void {
    if (!(data instanceof ArrayBuffer)) {
      this.#protocolError('the server sent a text message')
      return
    }
    let frames: Response[]
    try {
      frames = this.#reader.push(new Uint8Array(data))
    } catch (error) {
      this.#protocolError((error as Error).message)
      return
    }
    for (const frame of frames) this.#deliver(frame)
  }

  /** Settles the request `frame` answers, and every quiet request sent before it. */
  #deliver (frame: Response): void {
    for (;;) {
      const pending = this.#pending[this.#head]
      if (pending === undefined) {
        this.#protocolError(`reply with opaque ${frame.opaque} matches no request`)
        return
      }
      if (pending.opaque === frame.opaque) break
      if (!pending.quiet) {
        this.#protocolError(`reply with opaque ${frame.opaque} while ${pending.opaque} was expected`)
        return
      }
      this.#shift()
      // A quiet request the server passed over succeeded (or, for a quiet get, missed).
      pending.resolve(pending.kind === Kind.VALUE ? null : pending.kind === Kind.BOOL ? true : undefined)
    }
    const pending = this.#pending[this.#head]!
    if (pending.kind === Kind.STATS && frame.status === Status.SUCCESS && frame.key.length > 0) {
      (pending.stats ??= new Map()).set(decoder.decode(frame.key), decoder.decode(frame.value))
      return
    }
    this.#shift()
    settle(pending, frame)
  }

  #shift (): void {
    this.#head++
    if (this.#head === this.#pending.length) {
      this.#pending = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head)
      this.#head = 0
    }
  }

  #protocolError (message: string): void {
    this.#fail(new StreamClosedError(1002, message))
    if (this.#socket.readyState <= OPEN) this.#socket.close(1002, 'protocol error')
  }

  #fail (error: StreamClosedError): void {
    if (this.#closed === null) this.#closed = error
    const pending = this.#pending.slice(this.#head)
    this.#pending = []
    this.#head = 0
    for (const request of pending) request.reject(this.#closed)
  }
}

const QUIET = new Set<number>([
  Opcode.GETQ, Opcode.GETKQ, Opcode.SETQ, Opcode.ADDQ, Opcode.REPLACEQ, Opcode.DELETEQ, Opcode.INCREMENTQ,
  Opcode.DECREMENTQ, Opcode.QUITQ, Opcode.FLUSHQ, Opcode.APPENDQ, Opcode.PREPENDQ, Opcode.GATQ, Opcode.GATKQ
])

/** Resolves or rejects `pending` with the reply `frame`. */
function settle (pending: Pending, frame: Response): void {
  const { status } = frame
  if (status === Status.KEY_NOT_FOUND) {
    if (pending.kind === Kind.VALUE || pending.kind === Kind.COUNTER) { pending.resolve(null); return }
    if (pending.kind === Kind.BOOL) { pending.resolve(false); return }
  }
  if (status !== Status.SUCCESS) {
    pending.reject(new StreamStatusError(pending.opcode, status, decoder.decode(frame.value)))
    return
  }
  switch (pending.kind) {
    case Kind.VALUE: {
      const flags = frame.extras.length >= 4 ? new DataView(frame.extras.buffer, frame.extras.byteOffset, 4).getUint32(0) : 0
      pending.resolve({ value: frame.value, flags, cas: frame.cas })
      return
    }
    case Kind.STORED: pending.resolve(frame.cas); return
    case Kind.BOOL: pending.resolve(true); return
    case Kind.COUNTER: pending.resolve(new DataView(frame.value.buffer, frame.value.byteOffset, 8).getBigUint64(0)); return
    case Kind.TEXT: pending.resolve(decoder.decode(frame.value)); return
    case Kind.STATS: pending.resolve(pending.stats ?? new Map()); return
    default: pending.resolve(undefined)
  }
}
