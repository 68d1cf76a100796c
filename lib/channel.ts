/**
 * A typed event channel between parts of the daemon that must not know each other: the core
 * pipeline publishes what happened to each core; the metrics, the Kubernetes Events and
 * (later) the AI explanations subscribe. Publishing never waits for a subscriber and a
 * failing subscriber never reaches the publisher: a subscriber with slow work keeps its own
 * bounded queue.
 *
 * @module
 */

/**
 * A one-to-many channel of `T` values.
 *
 * @example Usage
 * ```ts
 * const channel = new Channel<number>();
 * const seen: number[] = [];
 * const unsubscribe = channel.subscribe((n) => seen.push(n));
 * channel.publish(1);
 * unsubscribe();
 * channel.publish(2); // seen is [1]
 * ```
 */
export class Channel<T> {
  readonly #subscribers = new Set<(value: T) => void>();

  /** Creates a channel; `onError` hears about subscribers that throw. */
  constructor(private readonly onError: (error: unknown) => void = () => {}) {}

  /** Calls `subscriber` with every value published from now on; returns the unsubscribe. */
  subscribe(subscriber: (value: T) => void): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Hands `value` to every subscriber, in the order they subscribed. */
  publish(value: T): void {
    for (const subscriber of this.#subscribers) {
      try {
        subscriber(value);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
