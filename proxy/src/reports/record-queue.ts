import type { AccessRecord } from './access-record.js';

/**
 * Bounded in-memory queue between the proxy (producer) and the report shipper (consumer).
 * When full, the oldest record is dropped and counted: the proxy must never block on reporting.
 */
export class RecordQueue {
  private items: AccessRecord[] = [];
  private head = 0;
  dropped = 0;

  constructor(readonly capacity = 100_000) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`record queue capacity must be a positive integer, got ${capacity}`);
    }
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(record: AccessRecord): void {
    if (this.size >= this.capacity) {
      this.head++;
      this.dropped++;
      // Nobody drains a queue that is full (no master configured, or it is away): compact here
      // too, or the array would keep every record ever pushed.
      if (this.head >= this.capacity) this.compact();
    }
    this.items.push(record);
  }

  /** Removes and returns up to `max` records, oldest first. */
  drain(max: number): AccessRecord[] {
    const out = this.items.slice(this.head, this.head + max);
    this.head += out.length;
    if (this.head > 4096 && this.head * 2 > this.items.length) this.compact();
    return out;
  }

  private compact(): void {
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}
