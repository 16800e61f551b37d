/** Headers a run card shows once the run has ended (cards are live until then). */
export const FINAL_HEADER = /✅ Done|❌ Failed|⏹ Interrupted|⏱ Timed out/;

/** True for a bot message that shows how a run ended: a final card, or a plain text answer. */
export function showsOutcome(item: { msgType: string; text: string }): boolean {
  return item.msgType !== 'interactive' || FINAL_HEADER.test(item.text);
}
