/**
 * The playground's chat page: one self-contained HTML document (no assets, no network beyond
 * its own origin). It polls the chat as the emulator's "what the user sees" view and renders
 * card JSON 2.0 roughly as the Feishu client does: header, markdown, collapsible panels,
 * buttons (which go through the real card.action.trigger path), column sets.
 */
export function playgroundPage(options: { mode: 'agent' | 'offline'; workspace: string }): string {
  const banner =
    options.mode === 'offline'
      ? 'Offline demo: the real codex binary talks to a scripted mock model, in a scratch workspace. Try <code>[[rich]]</code>, <code>[[shell: ls -la]]</code>, or <code>[[hang]]</code> and then Stop.'
      : 'codex runs with your own credentials, in a scratch workspace.';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>larkcode playground</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.5 system-ui, sans-serif; margin: 0; background: #f5f6f7; color: #1f2329; }
  header { background: #3370ff; color: #fff; padding: 10px 16px; }
  header small { display: block; opacity: .9; }
  #log { padding: 16px; max-width: 820px; margin: 0 auto 90px; }
  .msg { margin: 10px 0; display: flex; }
  .msg.user { justify-content: flex-end; }
  .bubble { background: #fff; border-radius: 8px; padding: 8px 12px; max-width: 90%; box-shadow: 0 1px 2px #0001; }
  .user .bubble { background: #e1eaff; }
  .card { background: #fff; border-radius: 8px; width: 100%; max-width: 680px; box-shadow: 0 1px 3px #0002; overflow: hidden; }
  .card-header { padding: 8px 12px; font-weight: 600; color: #fff; }
  .card-body { padding: 8px 12px; }
  .t-blue { background: #3370ff; } .t-wathet { background: #4fa5f6; } .t-green { background: #34c724; }
  .t-red { background: #f54a45; } .t-orange { background: #ff8800; } .t-grey { background: #8f959e; }
  pre { background: #f2f3f5; padding: 8px; overflow-x: auto; border-radius: 4px; }
  details { border: 1px solid #dee0e3; border-radius: 5px; margin: 6px 0; padding: 4px 8px; }
  summary { cursor: pointer; }
  .notation { font-size: 12px; color: #646a73; }
  button.card-button { margin: 6px 6px 0 0; padding: 4px 12px; border-radius: 4px; border: 1px solid #bbbfc4; background: #fff; cursor: pointer; }
  button.danger { border-color: #f54a45; color: #f54a45; }
  button.primary { border-color: #3370ff; color: #3370ff; }
  .reactions { font-size: 12px; color: #646a73; margin-top: 2px; text-align: right; }
  form { position: fixed; bottom: 0; left: 0; right: 0; display: flex; gap: 8px; padding: 12px; background: #fff; box-shadow: 0 -1px 3px #0002; }
  #text { flex: 1; padding: 8px; font: inherit; }
  #toast { position: fixed; top: 70px; right: 16px; background: #1f2329; color: #fff; padding: 8px 12px; border-radius: 6px; display: none; }
  hr { border: 0; border-top: 1px solid #dee0e3; }
</style>
</head>
<body>
<header><strong>larkcode — local playground</strong> (not connected to Feishu)
<small>${banner} Workspace: <code>${escapeHtml(options.workspace)}</code></small></header>
<div id="log"></div>
<div id="toast" role="status"></div>
<form id="send"><input id="text" autocomplete="off" placeholder="Message larkcode…"><button type="submit">Send</button></form>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
function inline(s) {
  // Feishu shows numeric entities (&#60;) as the character: larkcode escapes people's words so.
  return esc(s)
    .replace(/&amp;#(\\d+);/g, '&#$1;')
    .replace(/&lt;at id=(\\w+)&gt;&lt;\\/at&gt;/g, '<b>@$1</b>')
    .replace(/\`([^\`]+)\`/g, '<code>$1</code>')
    .replace(/\\*\\*([^*]+)\\*\\*/g, '<strong>$1</strong>')
    .replace(/(^|\\s)_([^_]+)_(?=\\s|$)/g, '$1<em>$2</em>')
    .replace(/\\[([^\\]]+)\\]\\((https?:[^)\\s]+)\\)/g, '<a href="$2" target="_blank" rel="noreferrer">$1</a>');
}
function markdown(text) {
  const out = [];
  const parts = String(text).split(/^\`\`\`.*$/m);
  parts.forEach((part, i) => {
    if (i % 2 === 1) out.push('<pre><code>' + esc(part.replace(/^\\n|\\n$/g, '')) + '</code></pre>');
    else out.push(part.split('\\n').map(inline).join('<br>'));
  });
  return out.join('');
}
function element(el, messageId) {
  if (!el || typeof el !== 'object') return '';
  switch (el.tag) {
    case 'markdown': return '<div class="md ' + (el.text_size === 'notation' ? 'notation' : '') + '">' + markdown(el.content || '') + '</div>';
    case 'plain_text': return esc(el.content || '');
    case 'hr': return '<hr>';
    case 'collapsible_panel':
      return '<details' + (el.expanded ? ' open' : '') + '><summary>' + markdown(el.header?.title?.content || '') + '</summary>' +
        (el.elements || []).map((e) => element(e, messageId)).join('') + '</details>';
    case 'column_set':
      return '<div style="display:flex;gap:8px;flex-wrap:wrap">' + (el.columns || []).map((c) => '<div>' + (c.elements || []).map((e) => element(e, messageId)).join('') + '</div>').join('') + '</div>';
    case 'button': {
      const value = el.behaviors?.find((b) => b.type === 'callback')?.value;
      return '<button class="card-button ' + esc(el.type || '') + '" data-message="' + esc(messageId) + '" data-value="' + esc(JSON.stringify(value || {})) + '">' + esc(el.text?.content || 'Button') + '</button>';
    }
    default: return (el.elements || []).map((e) => element(e, messageId)).join('');
  }
}
function card(json, messageId) {
  const header = json.header?.title?.content || '';
  const template = json.header?.template || 'blue';
  const body = (json.body?.elements || json.elements || []).map((e) => element(e, messageId)).join('');
  return '<div class="card"><div class="card-header t-' + esc(template) + '">' + esc(header) + '</div><div class="card-body">' + body + '</div></div>';
}
let last = '';
async function refresh() {
  try {
    const items = await (await fetch('/api/view')).json();
    const html = items.map((m) => {
      const reactions = (m.reactions || []).map((r) => esc(r.emoji)).join(' ');
      const content = m.msgType === 'interactive' && m.card ? card(m.card, m.messageId) : '<div class="bubble">' + markdown(m.text) + '</div>';
      return '<div class="msg ' + (m.from === 'user' ? 'user' : 'bot') + '" data-id="' + esc(m.messageId) + '"><div>' + content +
        (reactions ? '<div class="reactions">' + reactions + '</div>' : '') + '</div></div>';
    }).join('');
    if (html !== last) {
      const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      document.getElementById('log').innerHTML = html;
      last = html;
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    }
  } catch (error) { /* the next poll retries */ }
}
function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text; t.style.display = 'block';
  clearTimeout(t.timer); t.timer = setTimeout(() => { t.style.display = 'none'; }, 3000);
}
document.getElementById('log').addEventListener('click', async (event) => {
  const button = event.target.closest('button.card-button');
  if (!button) return;
  const answer = await (await fetch('/api/press', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messageId: button.dataset.message, value: JSON.parse(button.dataset.value) }) })).json();
  if (answer.toast) toast(answer.toast.content);
});
document.getElementById('send').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('text');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  await fetch('/api/send', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  refresh();
});
setInterval(refresh, 400);
refresh();
</script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}
