import { errorMessage } from '../../core/model/errors.ts';
import { authorize, type Requester } from './commands.ts';
import type { SlackFrontDeps } from './deps.ts';

/** Who may act on a cluster from Slack, as the front door asks it (the sender of a command, the one who clicks). */

/** Why `who` may not act on `cluster`, or undefined when they may; a refusal is logged (ids and reason only). */
export async function refusalOf(
  deps: SlackFrontDeps,
  cluster: string,
  who: Requester,
): Promise<string | undefined> {
  let reason: string | undefined;
  try {
    const decision = await authorize(cluster, deps.slackOf(cluster), who, deps.userGroups?.bind(deps));
    reason = decision.allowed ? undefined : decision.reason;
  } catch (error) {
    deps.logger.error('slack user group lookup failed', {
      userId: who.userId,
      cluster,
      error: errorMessage(error),
    });
    reason = `your user groups could not be checked (${errorMessage(error)}); try again, or ask to be added to slack.allowedUsers`;
  }
  if (reason)
    deps.logger.warn('slack request refused', {
      userId: who.userId,
      channelId: who.channelId,
      cluster,
      reason,
    });
  return reason;
}
