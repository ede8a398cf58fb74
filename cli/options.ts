/** Option parsers and small helpers the CLI's command definitions share (they load only commander). */
import { InvalidArgumentError } from 'commander';

/** An option value that must be a whole number of at least `min` (an empty value is none). */
const integerAtLeast = (min: 0 | 1) => (name: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) {
    const kind = min === 0 ? 'non-negative' : 'positive';
    throw new InvalidArgumentError(`${name} must be a ${kind} integer, got '${value}'`);
  }
  return n;
};
export const positiveInt = integerAtLeast(1);
export const nonNegativeInt = integerAtLeast(0);
export const slackUserIds = (value: string) => {
  const ids = value.split(',').map((id) => id.trim());
  const bad = ids.find((id) => !/^[UW][A-Z0-9]{2,}$/.test(id));
  if (bad !== undefined)
    throw new InvalidArgumentError(`--slack-user: '${bad}' is not a Slack user id (U0123ABCD)`);
  return ids;
};
export const httpUrl = (name: string) => (value: string) => {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new InvalidArgumentError(`${name} must be an http(s) URL, got '${value}'`);
  return value;
};
export const err = (line: string) => process.stderr.write(`${line}\n`);
/** Who asked, for history: `cli:<user>`. */
export const cliUser = () => `cli:${process.env.USER ?? 'unknown'}`;
