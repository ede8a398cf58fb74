/** An error shaped like the ones the AWS SDK raises: a name, a message, and `$metadata` with the status. */
export function awsError(name: string, message = name, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, attempts: 1, totalRetryDelay: 0 },
  });
}

/** The error the SDK raises when a service throttles a caller. */
export const throttling = (): Error => awsError('ThrottlingException', 'Rate exceeded');

/** A random source that always answers `value`, so that jittered pauses are exact. */
export const fixedRandom =
  (value = 0.5): (() => number) =>
  () =>
    value;

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error))
    throw new Error(`expected a rejection with an Error, got ${String(outcome)}`);
  return outcome;
}
