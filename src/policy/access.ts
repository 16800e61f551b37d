/** Who may talk to the bot. Roles beyond owner/allowlist arrive with the policy engine. */
export interface AccessPolicy {
  owner?: string;
  allowlist: readonly string[];
  requireMentionInGroups: boolean;
}

export function isAllowedSender(policy: AccessPolicy, senderId: string, chatId: string): boolean {
  if (policy.owner && senderId === policy.owner) return true;
  return policy.allowlist.includes(senderId) || policy.allowlist.includes(chatId);
}
