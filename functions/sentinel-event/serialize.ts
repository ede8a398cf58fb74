/** Work of one key (a cluster) runs one at a time in this process; the epoch claim still guards across processes. */
export type Serializer = <T>(key: string, fn: () => Promise<T>) => Promise<T>;

/** A queue per key of its own: one per process in AWS (an execution environment), as `serialized` is. */
export function newSerializer(): Serializer {
  const queues = new Map<string, Promise<unknown>>();
  return <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const previous = queues.get(key) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    queues.set(key, settled);
    void settled.then(() => {
      if (queues.get(key) === settled) queues.delete(key);
    });
    return next;
  };
}

/** This process's queues: the handler, the reconcile and the local orchestrator share them. */
export const serialized: Serializer = newSerializer();
