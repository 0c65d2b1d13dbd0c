/**
 * The portal's only stylesheet and script, served from /static/ (the CSP forbids inline ones).
 * Everything works without the script; it only adds copy and print buttons and local times.
 * Colours meet WCAG AA contrast (body text 15:1, links and buttons ≥ 7:1 on white).
 */
export const PORTAL_CSS = `
:root { --fg: #1b1f24; --muted: #4a5361; --line: #c9ced6; --bg: #f4f6f8; --card: #fff; --accent: #0a4fa8;
  --accent-dark: #083b7d; --ok: #0d6b33; --ok-bg: #e7f5ec; --err: #a4161a; --err-bg: #fdecec; --warn-bg: #fff6dd; --focus: #ffbf1f;
  --field: #fff; --field-line: #6b7380; --on-accent: #fff; --hover-bg: #eef3fb; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e9ee; --muted: #aab3c0; --line: #3a4250; --bg: #12151a; --card: #1c2129; --accent: #8ab8ff; --accent-dark: #b5d1ff;
    --ok: #7fd6a0; --ok-bg: #15301f; --err: #ff9a9c; --err-bg: #3a1517; --warn-bg: #3a3115; --field: #12151a; --field-line: #8a93a0;
    --on-accent: #0b1220; --hover-bg: #243044; }
  button.danger, button.danger:hover { color: #0b1220; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
/* Long names without spaces (an account, a passcode name) wrap instead of widening the page. */
body { overflow-wrap: anywhere; margin: 0; font: 1rem/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-underline-offset: 2px; }
a:hover { color: var(--accent-dark); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; box-shadow: 0 0 0 5px var(--fg); }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: .5rem 1rem; }
.skip:focus { left: .5rem; z-index: 10; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
header.top { background: var(--card); border-bottom: 1px solid var(--line); }
header.top .wrap { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between; padding-top: .75rem; padding-bottom: .75rem; }
.brand { font-weight: 700; color: var(--fg); text-decoration: none; font-size: 1.1rem; display: inline-flex; gap: .5rem; align-items: center; }
.who { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; color: var(--muted); font-size: .95rem; overflow-wrap: anywhere; }
.wrap { max-width: 46rem; margin: 0 auto; padding: 0 1rem; }
main { padding: 1.5rem 0 3rem; outline: none; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 1rem; }
h2 { font-size: 1.2rem; margin: 0 0 .5rem; }
p { margin: 0 0 .9rem; }
.lead { font-size: 1.05rem; color: var(--muted); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1.25rem; margin: 0 0 1.25rem; }
.card > :last-child { margin-bottom: 0; }
.step { display: inline-block; font-size: .8rem; font-weight: 700; letter-spacing: .04em; text-transform: uppercase; color: var(--muted); margin-bottom: .25rem; }
.status { display: inline-flex; gap: .35rem; align-items: center; font-weight: 600; }
.status.on { color: var(--ok); } .status.off { color: var(--err); }
label, legend { display: block; font-weight: 600; margin: 0 0 .3rem; }
.hint { display: block; color: var(--muted); font-size: .92rem; margin: 0 0 .4rem; font-weight: 400; }
.field { margin: 0 0 1.1rem; }
fieldset { border: 0; padding: 0; margin: 0 0 1.1rem; }
input[type=text], input[type=password], input[type=email], select { width: 100%; max-width: 26rem; font: inherit; padding: .6rem .7rem; border: 2px solid var(--field-line); border-radius: 6px; background: var(--field); color: var(--fg); }
input.code { max-width: 12rem; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 1.25rem; letter-spacing: .12em; }
input[aria-invalid=true] { border-color: var(--err); }
.check { display: flex; gap: .5rem; align-items: center; font-weight: 400; margin: .2rem 0; }
.check input { width: 1.25rem; height: 1.25rem; }
.field-error { color: var(--err); font-weight: 600; margin: 0 0 .35rem; }
button, .button { display: inline-block; font: inherit; font-weight: 600; padding: .6rem 1.1rem; border-radius: 6px; border: 2px solid var(--accent); background: var(--accent); color: var(--on-accent); cursor: pointer; text-decoration: none; min-height: 44px; }
button:hover, .button:hover { background: var(--accent-dark); border-color: var(--accent-dark); color: var(--on-accent); }
button[disabled] { opacity: .6; cursor: progress; }
button.secondary, .button.secondary { background: var(--card); color: var(--accent); }
button.secondary:hover, .button.secondary:hover { background: var(--hover-bg); color: var(--accent-dark); }
button.danger { background: var(--err); border-color: var(--err); }
button.danger:hover { background: #7d1013; border-color: #7d1013; }
button.link { background: none; border: 0; color: var(--accent); padding: 0; min-height: 0; text-decoration: underline; font-weight: 400; }
form.spaced { margin: 0 0 1rem; }
.actions { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; margin-top: 1rem; }
.notice { border-radius: 8px; padding: .85rem 1rem; margin: 0 0 1.25rem; border: 1px solid; }
.notice.ok { background: var(--ok-bg); border-color: #8cc9a4; }
.notice.error { background: var(--err-bg); border-color: #e3a0a2; }
.notice.warn { background: var(--warn-bg); border-color: #e6cf86; }
.notice :last-child { margin-bottom: 0; }
.secret { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 1.3rem; letter-spacing: .04em; word-spacing: .1em; background: var(--bg); border: 1px dashed #8a93a0; border-radius: 6px; padding: .6rem .8rem; display: inline-block; overflow-wrap: anywhere; }
.qr { background: #fff; padding: .5rem; display: inline-block; border: 1px solid var(--line); border-radius: 8px; }
.qr svg { width: 13rem; height: 13rem; display: block; }
ol.steps { padding-left: 1.3rem; margin: 0; } ol.steps > li { margin-bottom: 1.4rem; } ol.steps > li:last-child { margin-bottom: 0; }
ol.steps form { margin-top: .75rem; }
.inline-actions { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; }
ol.codes { columns: 2; column-gap: 2rem; padding-left: 2rem; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 1.15rem; }
ol.codes li { margin-bottom: .3rem; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0 1rem; }
dl.settings dt { color: var(--muted); } dl.settings dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
details { margin: 0 0 .75rem; border: 1px solid var(--line); border-radius: 8px; padding: .5rem .9rem; background: var(--card); }
summary { cursor: pointer; font-weight: 600; padding: .25rem 0; }
ul.pclist { list-style: none; padding: 0; margin: 0 0 .5rem; }
li.pc { border-top: 1px solid var(--line); padding: .8rem 0; }
li.pc:first-child { border-top: 0; padding-top: .2rem; }
.pc-head { display: flex; gap: .75rem; align-items: center; justify-content: space-between; flex-wrap: wrap; }
.pc-head h3 { font-size: 1.05rem; margin: 0; overflow-wrap: anywhere; }
.pc-meta { color: var(--muted); font-size: .93rem; margin: .25rem 0 0; }
.small-button { padding: .3rem .8rem; min-height: 40px; font-size: .95rem; }
.small { font-size: .9rem; color: var(--muted); }
.badge { display: inline-block; font-size: .85rem; font-weight: 700; padding: .05rem .45rem; border-radius: 99px; background: var(--bg); border: 1px solid var(--line); }
.badge.live { background: var(--ok-bg); border-color: #8cc9a4; color: var(--ok); }
footer { color: var(--muted); font-size: .85rem; padding: 0 0 2rem; }
[hidden] { display: none !important; }
@media (max-width: 40rem) {
  h1 { font-size: 1.35rem; }
  .card { padding: 1rem; }
  ol.codes { columns: 1; }
  dl.settings { grid-template-columns: 1fr; gap: 0; }
  dl.settings dd { margin-bottom: .5rem; overflow-wrap: normal; }
}
@media print {
  header.top, footer, .actions, .no-print, .skip { display: none !important; }
  body { background: #fff; } .card { border: 0; padding: 0; }
}
`;

export const PORTAL_JS = `
(function () {
  function copy(btn) {
    var el = document.getElementById(btn.getAttribute('data-copy'));
    if (!el) return;
    var text = el.textContent.replace(/\\s+/g, btn.hasAttribute('data-keep-spaces') ? ' ' : '').trim();
    var done = function () { var old = btn.textContent; btn.textContent = 'Copied'; setTimeout(function () { btn.textContent = old; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, function () { select(el); }); }
    else { select(el); }
  }
  function select(el) { var r = document.createRange(); r.selectNodeContents(el); var s = getSelection(); s.removeAllRanges(); s.addRange(r); }
  document.querySelectorAll('[data-copy]').forEach(function (b) { b.hidden = false; b.addEventListener('click', function () { copy(b); }); });
  document.querySelectorAll('[data-print]').forEach(function (b) { b.hidden = false; b.addEventListener('click', function () { window.print(); }); });
  // One locale (the page's), the reader's time zone: the server does not know the zone, the browser does.
  var lang = document.documentElement.lang || 'en';
  var fmt = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' };
  document.querySelectorAll('time[datetime]').forEach(function (t) {
    var d = new Date(t.getAttribute('datetime'));
    if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(lang, fmt); }
  });
  // A double click must not post a form twice: the first submit disables its buttons (the server
  // also answers a repeated one-time token with the first answer, for browsers without this script).
  document.querySelectorAll('form[method=post]').forEach(function (f) {
    f.addEventListener('submit', function (e) {
      if (f.getAttribute('data-sent')) { e.preventDefault(); return; }
      f.setAttribute('data-sent', '1');
      setTimeout(function () { f.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = true; }); }, 0);
    });
  });
  // Back to a page from the cache: its forms work again.
  window.addEventListener('pageshow', function (e) {
    if (!e.persisted) return;
    document.querySelectorAll('form[data-sent]').forEach(function (f) {
      f.removeAttribute('data-sent');
      f.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = false; });
    });
  });
})();
`;

/** A small shield, for the browser tab (and so /favicon.ico is not a 404 in every log). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path fill="#0a4fa8" d="M16 2 4 7v8c0 7.5 5.1 13.4 12 15 6.9-1.6 12-7.5 12-15V7z"/><path fill="#fff" d="M11 15h10v8H11zm2-3a3 3 0 0 1 6 0v3h-2v-3a1 1 0 0 0-2 0v3h-2z"/></svg>
`;
