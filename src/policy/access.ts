import type { CommandInfo } from '../commands/parse.js';

/** Who someone is to larkcode. Strangers have no role and get silence. */
export type Role = 'owner' | 'admin' | 'user';

/** Grants made at runtime by /invite and /remove (persisted by the access list). */
export interface RuntimeGrants {
  roleOf(openId: string): 'admin' | 'user' | undefined;
  isGroupAllowed(chatId: string): boolean;
}

export interface AccessPolicy {
  owner?: string;
  /** From config: user open ids and chat ids whose members may use the bot. */
  allowlist: readonly string[];
  grants?: RuntimeGrants;
  requireMentionInGroups: boolean;
  /** Per group chat (a /config choice); falls back to `requireMentionInGroups`. */
  requireMentionIn?: (chatId: string) => boolean;
}

export function roleOf(policy: AccessPolicy, senderId: string, chatId: string): Role | undefined {
  if (policy.owner && senderId === policy.owner) return 'owner';
  const granted = policy.grants?.roleOf(senderId);
  if (granted === 'admin') return 'admin';
  if (granted === 'user' || policy.allowlist.includes(senderId)) return 'user';
  if (policy.allowlist.includes(chatId) || policy.grants?.isGroupAllowed(chatId)) return 'user';
  return undefined;
}

export function isAllowedSender(policy: AccessPolicy, senderId: string, chatId: string): boolean {
  return roleOf(policy, senderId, chatId) !== undefined;
}

export function isAdmin(role: Role | undefined): boolean {
  return role === 'owner' || role === 'admin';
}

/** Admin-gated commands (seed 004 §5.4) need an admin; the rest are open to the chat's users. */
export function mayUse(role: Role | undefined, command: CommandInfo): boolean {
  if (!role) return false;
  return command.adminOnly ? isAdmin(role) : true;
}
