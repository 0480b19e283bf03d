/**
 * A port's outbound queue: a FIFO whose pops are O(1) and whose rare removals (a subscription's
 * ticks shed, its backlog dropped, the subscription ended) keep the order of what stays.
 */

/** Past this many popped slots at the front, and half the array, the slots are given back. */
const COMPACT_AT = 1024

/** First in, first out; `remove()` is O(length) and meant for rare use. */
export class Fifo<T> {
  #items: (T | undefined)[] = []
  #head = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  push(item: T): void {
    this.#items.push(item)
  }

  /** The oldest item, removed; undefined when empty. */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined
    if (this.#head === this.#items.length) {
      this.#items = []
      this.#head = 0
    } else if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  /** Removes every item `drop` is true of, in one pass; the rest keep their order. `drop` sees each item once. */
  remove(drop: (item: T) => boolean): void {
    const kept: (T | undefined)[] = []
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T
      if (!drop(item)) kept.push(item)
    }
    this.#items = kept
    this.#head = 0
  }

  clear(): void {
    this.#items = []
    this.#head = 0
  }
}

/**
 * What a frame of `value` costs, roughly, in encoded bytes: a walk of at most 256 values, the rest
 * counted at a flat rate. Publishers that know the size pass it instead.
 */
export function estimateBytes(value: unknown): number {
  const budget = { left: 256 }
  return estimate(value, budget)
}

/** A value the walk no longer visits counts this much. */
const FLAT = 16

function estimate(value: unknown, budget: { left: number }): number {
  if (budget.left-- <= 0) return FLAT
  switch (typeof value) {
    case 'number':
    case 'bigint':
      return 9
    case 'boolean':
      return 1
    case 'string':
      // UTF-16 units: exact for ASCII, an undercount of at most 3x for the rest
      return 5 + value.length
    case 'object': {
      if (value === null) return 1
      if (value instanceof Uint8Array) return 5 + value.byteLength
      if (Array.isArray(value)) {
        let n = 5
        for (let i = 0; i < value.length; i++) {
          if (budget.left <= 0) return n + (value.length - i) * FLAT
          n += estimate(value[i], budget)
        }
        return n
      }
      let n = 5
      for (const key in value) {
        n += 5 + key.length
        if (budget.left <= 0) n += FLAT
        else n += estimate((value as Record<string, unknown>)[key], budget)
      }
      return n
    }
    default:
      return 1
  }
}
