/**
 * Buffers kept from batch to batch (the encoder's, results, raw batches), so that a steady stream of batches does not
 * allocate megabytes each; sized by what recent batches needed, so that one burst of big events does not raise the
 * memory floor for good (128 events of 700 KB kept 898 MB through 2000 normal batches after them).
 */

/** Buffers up to this size are kept whatever recent batches needed: a normal batch (128 events of a few KB) needs far less. */
const ALWAYS_KEPT_BYTES = 8 << 20
/** Batches per period: what the batches of this period and the last needed decides what is kept. */
const PERIOD = 64

/** What recent batches needed: a burst is forgotten after 64 to 128 batches. */
export class RecentNeed {
  private current = 0
  private previous = 0
  private batches = 0

  /** A batch needed `bytes`. True when a period ends (what is kept may shrink). */
  note(bytes: number): boolean {
    if (bytes > this.current) this.current = bytes
    if (++this.batches < PERIOD) return false
    this.previous = this.current
    this.current = 0
    this.batches = 0
    return true
  }

  /** A buffer worth keeping: small, or at most twice what a recent batch needed. */
  keeps(bytes: number): boolean {
    return bytes <= ALWAYS_KEPT_BYTES || bytes <= 2 * Math.max(this.current, this.previous)
  }
}

/** Buffers given back, at most `max`, for later batches. */
export class SpareBuffers {
  private readonly list: ArrayBuffer[] = []
  private readonly need = new RecentNeed()

  constructor(private readonly max: number) {}

  /** A batch needed a buffer of `bytes`; at the end of a period, kept buffers much larger than that are let go. */
  note(bytes: number): void {
    if (!this.need.note(bytes)) return
    for (let i = this.list.length - 1; i >= 0; i--) if (!this.need.keeps(this.list[i]!.byteLength)) this.list.splice(i, 1)
  }

  /** Keeps `buffer` unless `max` are kept or it is much larger than recent batches needed. */
  put(buffer: ArrayBuffer): void {
    if (this.list.length < this.max && buffer.byteLength > 0 && this.need.keeps(buffer.byteLength)) this.list.push(buffer)
  }

  /** The buffer given back last. */
  pop(): ArrayBuffer | undefined {
    return this.list.pop()
  }

  /** The first kept buffer of at least `size` bytes, taken out, as a view of its first `size` bytes. */
  take(size: number): Uint8Array | undefined {
    const at = this.list.findIndex((b) => b.byteLength >= size)
    return at < 0 ? undefined : new Uint8Array(this.list.splice(at, 1)[0]!, 0, size)
  }

  /** Bytes kept (tests). */
  get bytes(): number {
    return this.list.reduce((n, b) => n + b.byteLength, 0)
  }
}
