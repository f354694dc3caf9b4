/**
 * The live page at / of the --stats-http server (for a browser: Accept: text/html): a workers
 * table and charts of req/s and average response time over the last five minutes, redrawn each
 * second from /json. Self-contained — no CDN, no external file — so it works offline.
 */
export const STATS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsgi stats</title>
<style>
  :root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7280; --line: #d8dce3; --bg: #fff; --a: #2563eb; --b: #d97706; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e5e7eb; --muted: #9ca3af; --line: #374151; --bg: #111827; } }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: var(--fg); background: var(--bg); }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #summary { color: var(--muted); margin-bottom: 16px; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 16px; margin-bottom: 16px; }
  figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
  figcaption { font-weight: 600; margin-bottom: 4px; }
  canvas { width: 100%; height: 160px; display: block; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--line); }
  th:nth-child(3), td:nth-child(3) { text-align: left; }
  .busy { color: var(--b); font-weight: 600; }
  #error { color: #dc2626; }
</style>
</head>
<body>
<h1 id="title">tsgi stats</h1>
<div id="summary">connecting…</div>
<div id="error"></div>
<div class="charts">
  <figure><figcaption>requests per second</figcaption><canvas id="rps" width="720" height="320"></canvas></figure>
  <figure><figcaption>average response time (ms)</figcaption><canvas id="lat" width="720" height="320"></canvas></figure>
</div>
<table>
  <thead><tr><th>worker</th><th>pid</th><th>status</th><th>requests</th><th>req/s</th><th>avg (ms)</th><th>rss (MiB)</th><th>exceptions</th><th>respawns</th></tr></thead>
  <tbody id="workers"></tbody>
</table>
<script>
"use strict";
const KEEP = 300; // samples (seconds) in the charts
const samples = []; // { t, rps, lat }
let prev = null;

function draw(id, key, color) {
  const c = document.getElementById(id), g = c.getContext('2d');
  const w = c.width, h = c.height, pad = 36;
  g.clearRect(0, 0, w, h);
  const values = samples.map((s) => s[key]);
  const max = Math.max(1, ...values) * 1.15;
  g.strokeStyle = getComputedStyle(document.body).getPropertyValue('--line') || '#ccc';
  g.fillStyle = getComputedStyle(document.body).color;
  g.font = '20px system-ui, sans-serif';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad / 2 + ((h - pad) * i) / 4;
    g.beginPath(); g.moveTo(pad * 2, y); g.lineTo(w, y); g.stroke();
    g.fillText((max * (1 - i / 4)).toFixed(max < 10 ? 1 : 0), 0, y + 6);
  }
  if (values.length < 2) return;
  g.strokeStyle = color; g.lineWidth = 3; g.beginPath();
  values.forEach((v, i) => {
    const x = pad * 2 + ((w - pad * 2) * (i + KEEP - values.length)) / (KEEP - 1);
    const y = pad / 2 + (h - pad) * (1 - v / max);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  c.dataset.points = String(values.length);
  c.dataset.last = String(values[values.length - 1]);
}

function cell(text, cls) { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; }

async function tick() {
  let doc;
  try {
    const res = await fetch('json', { cache: 'no-store' });
    doc = await res.json();
    document.getElementById('error').textContent = '';
  } catch (e) {
    document.getElementById('error').textContent = 'stats server unreachable: ' + e.message;
    return;
  }
  const now = Date.now();
  const workers = doc.workers || [];
  const total = workers.reduce((n, w) => n + w.requests, 0);
  let rps = 0;
  const perWorker = new Map();
  if (prev) {
    const secs = (now - prev.t) / 1000;
    for (const w of workers) {
      const p = prev.workers.get(w.id);
      const d = p && p.pid === w.pid ? Math.max(0, w.requests - p.requests) : 0;
      perWorker.set(w.id, secs > 0 ? d / secs : 0);
      rps += perWorker.get(w.id);
    }
  }
  const busyAvg = workers.filter((w) => w.requests > 0);
  const lat = busyAvg.length ? busyAvg.reduce((n, w) => n + w.avg_rt, 0) / busyAvg.length / 1000 : 0;
  if (prev) { samples.push({ t: now, rps, lat }); if (samples.length > KEEP) samples.shift(); }
  prev = { t: now, workers: new Map(workers.map((w) => [w.id, w])) };
  const rt = doc.tsgi ? 'tsgi ' + doc.version + ' on ' + doc.tsgi.runtime + ' ' + doc.tsgi.runtime_version : 'uWSGI ' + doc.version;
  document.getElementById('title').textContent = rt + ' — master pid ' + doc.pid;
  document.getElementById('summary').textContent = workers.length + ' workers, ' + workers.filter((w) => w.status === 'busy').length + ' busy, ' + total + ' requests, ' + rps.toFixed(1) + ' req/s, listen queue ' + doc.listen_queue + ', updated ' + new Date(now).toLocaleTimeString();
  document.getElementById('summary').dataset.rps = rps.toFixed(2);
  const body = document.getElementById('workers');
  body.replaceChildren(...workers.map((w) => {
    const tr = document.createElement('tr');
    tr.dataset.pid = String(w.pid);
    tr.append(cell(w.id), cell(w.pid), cell(w.status, w.status === 'busy' ? 'busy' : ''), cell(w.requests), cell((perWorker.get(w.id) || 0).toFixed(1)),
      cell((w.avg_rt / 1000).toFixed(2)), cell((w.rss / 1048576).toFixed(1)), cell(w.exceptions), cell(w.respawn_count));
    return tr;
  }));
  draw('rps', 'rps', getComputedStyle(document.documentElement).getPropertyValue('--a'));
  draw('lat', 'lat', getComputedStyle(document.documentElement).getPropertyValue('--b'));
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
`;
