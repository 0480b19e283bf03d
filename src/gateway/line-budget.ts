/**
 * How many log lines a flood may cause: at most `perSecond` lines a second; the rest are counted,
 * and the next line let through says how many were left out before it.
 */
export class LineBudget {
  #windowStart = 0
  #lines = 0
  #leftOut = 0

  constructor(readonly perSecond: number) {}

  /** Undefined: leave this line out. Otherwise the lines left out since the last one let through. */
  take(now = Date.now()): number | undefined {
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now
      this.#lines = 0
    }
    if (++this.#lines > this.perSecond) {
      this.#leftOut++
      return undefined
    }
    const leftOut = this.#leftOut
    this.#leftOut = 0
    return leftOut
  }
}
