/**
 * `work`'s result, or undefined once `ms` passed: the work goes on, and a failure after that goes to `late`; a
 * failure before it is thrown. A timer of its own, not the clock port's sleep: a fake clock would count the wait
 * even when the work won the race, and a real one would keep a timer running after it.
 */
export async function withinMs<T>(
  work: Promise<T>,
  ms: number,
  late: (error: unknown) => void,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve(undefined);
    }, ms);
  });
  work.catch((error: unknown) => {
    if (timedOut) late(error);
  });
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}
