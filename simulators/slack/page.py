"""The simulator's page: the channel's messages with working buttons, as Slack would render them;
a message's thread replies (`thread_ts`) show under it, as Slack shows an opened thread. Mentions
of people (`<@U…>`), user groups (`<!subteam^S…>`) and channels (`<#C…>`) show as Slack shows them.

Text arrives as Slack mrkdwn, already escaped the way Slack wants (`&amp;`, `&lt;`, `&gt;`): the
page keeps those entities and escapes any other `&`, `<`, `>`, so nothing in a message becomes HTML.
"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Slack simulator · Riposte</title>
<style>
body{font:15px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f8f8f8;color:#1d1c1d}
header{background:#3f0e40;color:#fff;padding:12px 16px;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
main{max-width:760px;margin:0 auto;padding:12px}
.msg{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin:12px 0}
.meta{color:#616061;font-size:12px}.h{font-weight:700;font-size:17px;margin:4px 0}
.ctx{color:#616061;font-size:13px;margin:6px 0}.sec{margin:6px 0;white-space:pre-wrap}
button{margin:4px 6px 4px 0;padding:8px 12px;border-radius:4px;border:1px solid #bbb;background:#fff;font-weight:600;cursor:pointer}
button.primary{background:#007a5a;color:#fff;border-color:#007a5a}button.danger{background:#e01e5a;color:#fff;border-color:#e01e5a}
.thread{border-left:3px solid #ddd;margin:8px 0 0 8px;padding-left:8px}.thread .msg{margin:8px 0}
.note{background:#fff8e1;border-left:4px solid #ecb22e;padding:6px 8px;margin:6px 0}
</style></head><body>
<header><b>#secops</b> <span>Slack simulator</span>
<label>clicking as <select id="who"></select></label></header>
<main id="feed"><p class="meta">No messages yet.</p></main>
<script>
const users = __USERS__;
const who = document.getElementById('who');
users.forEach(u => { const o = document.createElement('option'); o.value = u.id; o.textContent = u.real_name + ' (' + u.id + ')'; who.appendChild(o); });
function esc(s){ return s.replace(/&(?!(amp|lt|gt);)/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;').replace(/"/g,'&quot;'); }
function fmt(s){ return s.replace(/\\*([^*]+)\\*/g,'<b>$1</b>').replace(/`([^`]+)`/g,'<code>$1</code>'); }
function md(t){
  // Slack's own markup is only what sits between a raw < and >; everything else is text, and
  // escaped text (&lt;!channel&gt;) stays text: it never becomes a link or a mention here either
  return (t||'').split(/(<[^<>]*>)/).map(part => {
    let m = part.match(/^<(https?:[^|>]+)\\|([^>]*)>$/);
    if (m) return '<a href="' + esc(m[1]) + '" target="_blank">' + esc(m[2]) + '</a>';
    if ((m = part.match(/^<@(\\w+)>$/))) return '@' + m[1];
    if ((m = part.match(/^<!subteam\\^(\\w+)(?:\\|([^>]*))?>$/))) return '<b>' + esc(m[2] || '@' + m[1]) + '</b>';
    if ((m = part.match(/^<#(\\w+)(?:\\|([^>]*))?>$/))) return '#' + esc(m[2] || m[1]);
    if ((m = part.match(/^<!date\\^[^|>]*\\|([^>]*)>$/))) return esc(m[1]);
    return fmt(esc(part));
  }).join('');
}
async function click(channel, ts, action_id, confirmText){
  if (confirmText && !confirm(confirmText)) return;
  const r = await fetch('/_sim/click', {method:'POST', headers:{'Content-Type':'application/json'},
    body: JSON.stringify({channel, ts, action_id, user_id: who.value})});
  const j = await r.json(); if (!r.ok) alert('click not delivered: ' + JSON.stringify(j)); setTimeout(load, 400);
}
function render(m){
  const d = document.createElement('div'); d.className = 'msg';
  d.innerHTML = '<div class="meta">' + m.channel + ' · ' + new Date(parseFloat(m.ts)*1000).toLocaleTimeString() + (m.updates.length ? ' · edited' : '') + '</div>';
  if (!m.blocks.length) d.insertAdjacentHTML('beforeend', '<div class="sec">' + md(m.text) + '</div>');  // text alone, as Slack shows it
  for (const b of m.blocks){
    if (b.type === 'header') d.insertAdjacentHTML('beforeend', '<div class="h">' + md(b.text.text) + '</div>');
    else if (b.type === 'section') d.insertAdjacentHTML('beforeend', '<div class="sec">' + md(b.text.text) + '</div>');
    else if (b.type === 'context') d.insertAdjacentHTML('beforeend', '<div class="ctx">' + b.elements.map(e => md(e.text)).join(' ') + '</div>');
    else if (b.type === 'actions') {
      const row = document.createElement('div');
      for (const e of b.elements){
        const btn = document.createElement('button'); btn.textContent = e.text.text; if (e.style) btn.className = e.style;
        btn.onclick = () => click(m.channel, m.ts, e.action_id, e.confirm ? e.confirm.text.text : null); row.appendChild(btn);
      }
      d.appendChild(row);
    }
  }
  return d;
}
let last = null;
async function load(){
  const r = await fetch('/_sim/messages'); const j = await r.json(); const feed = document.getElementById('feed');
  const replies = await (await fetch('/_sim/replies')).json();
  const snapshot = JSON.stringify([j, replies]);
  if (snapshot === last) return;  // re-render only on change: a click never lands on a vanished button
  last = snapshot;
  feed.innerHTML = '';
  const top = j.messages.filter(m => !m.thread_ts);  // replies show in their thread, under the message
  for (const m of top.slice().reverse()) {
    const d = feed.appendChild(render(m));
    const thread = j.messages.filter(r => r.thread_ts === m.ts && r.channel === m.channel);
    if (thread.length) {
      const t = document.createElement('div'); t.className = 'thread';
      t.insertAdjacentHTML('beforeend', '<div class="meta">' + thread.length + ' in thread</div>');
      for (const r of thread) t.appendChild(render(r));
      d.appendChild(t);
    }
  }
  for (const x of replies.replies.slice(-3).reverse()) { const n = document.createElement('div'); n.className='note'; n.innerHTML = md(x.text); feed.prepend(n); }
  if (!j.messages.length) feed.innerHTML = '<p class="meta">No messages yet.</p>';
}
load(); setInterval(load, 2000);
</script></body></html>"""
