// Herald's console: a thin client of the HTTP API, with the token a person pastes in. The token
// lives in sessionStorage only (never in a URL, never logged); every page is built with DOM
// calls (no HTML from data), so the strict Content-Security-Policy holds.
'use strict';

const KEY = 'herald.token';
const REFRESH_MS = 2000;
const STATUSES = ['queued', 'held', 'sending', 'sent', 'failed', 'skipped'];
let token = sessionStorage.getItem(KEY);
let timer = null;

const $ = (selector) => document.querySelector(selector);

// An element: h('td', {class: 'x', onclick: f}, child, 'text', ...).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// The organization a token belongs to: hrld_<organization>_<secret>.
function orgOf(t) {
  const m = /^hrld_([^_]+)_[A-Za-z0-9_-]{43}$/.exec(t || '');
  return m ? m[1] : null;
}

function flash(text, bad) {
  const el = $('#flash');
  el.textContent = text;
  el.className = bad ? 'bad' : '';
  el.hidden = !text;
}

// One API call: the parsed body, or an Error carrying the envelope's code and message.
async function api(method, path, body, withToken) {
  const headers = { authorization: 'Bearer ' + (withToken || token) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!res.ok && res.status !== 304) {
    const e = (data && data.error) || {};
    const details = (e.details || []).map((d) => `${d.field}: ${d.message}`).join('; ');
    const err = new Error(`${res.status} ${e.message || res.statusText}${details ? ' (' + details + ')' : ''}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

const org = () => orgOf(token);
const orgPath = (rest) => `/v1/organizations/${org()}${rest}`;

function time(ts) {
  return ts ? new Date(ts).toLocaleString() : '';
}

function badge(status) {
  return h('span', { class: 'status status-' + status, 'data-status': status }, status);
}

// ---------------------------------------------------------------------------------------------
// Sign-in and the frame

function signInPage() {
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'hrld_…', required: true });
  const form = h('form', { class: 'card', id: 'sign-in-form' },
    h('h1', {}, 'Sign in'),
    h('label', {}, 'API token', input),
    h('button', { type: 'submit', id: 'sign-in' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const candidate = input.value.trim();
    input.value = '';
    const o = orgOf(candidate);
    if (!o) return flash('That is not a Herald token (it looks like hrld_<organization>_<secret>).', true);
    try {
      await api('GET', `/v1/organizations/${o}/notifications?limit=1`, undefined, candidate);
    } catch (e) {
      return flash(`Herald refused that token: ${e.message}`, true);
    }
    token = candidate;
    sessionStorage.setItem(KEY, token);
    flash('');
    location.hash = '#deliveries';
    route();
  });
  return form;
}

function signOut() {
  sessionStorage.removeItem(KEY);
  token = null;
  flash('Signed out.');
  route();
}

async function loadNotifier() {
  try {
    const s = await api('GET', '/api/v2/notifications/settings');
    $('#paused').checked = !!s.notifier_paused;
  } catch (e) {
    flash(`Notifier: ${e.message}`, true);
  }
}

async function setNotifier() {
  const paused = $('#paused').checked;
  try {
    await api('PUT', '/api/v2/notifications/settings', { notifier_paused: paused });
    flash(paused ? 'Notifier paused: deliveries wait as held.' : 'Notifier running: held deliveries go out.');
  } catch (e) {
    $('#paused').checked = !paused;
    flash(`Notifier: ${e.message}`, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Notifications

async function notificationsPage(main) {
  const types = await api('GET', '/v1/event-types');
  const list = h('tbody');
  const kind = h('select', { id: 'new-type' }, ['webhook', 'slack', 'email', 'sms'].map((t) => h('option', { value: t }, t)));
  const url = h('input', { type: 'url', id: 'new-url', placeholder: "your receiver's URL" });
  const code = h('input', { type: 'text', id: 'new-slack-code', placeholder: 'OAuth code' });
  const description = h('input', { type: 'text', id: 'new-description', maxlength: 128 });
  const events = h('div', { class: 'events', id: 'new-events' },
    types.data.items.map((t) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: t.type }), t.type)));
  const urlLabel = h('label', {}, 'Webhook URL', url);
  const codeLabel = h('label', { hidden: true }, 'Slack code', code);
  kind.addEventListener('change', () => {
    urlLabel.hidden = kind.value !== 'webhook';
    codeLabel.hidden = kind.value !== 'slack';
  });
  const form = h('form', { class: 'card', id: 'create-form' },
    h('h2', {}, 'New notification'),
    h('label', {}, 'Type', kind), urlLabel, codeLabel, h('label', {}, 'Description', description),
    events, h('button', { type: 'submit', id: 'create' }, 'Create'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const chosen = {};
    events.querySelectorAll('input:checked').forEach((i) => { chosen[i.value] = true; });
    const body = { type: kind.value, events: chosen };
    if (description.value) body.description = description.value;
    if (kind.value === 'webhook') body.setup = { webhook: { url: url.value } };
    if (kind.value === 'slack') body.setup = { slack: { code: code.value } };
    try {
      const made = await api('POST', orgPath('/notifications'), body);
      const secret = made.data.config && made.data.config.webhook && made.data.config.webhook.token;
      flash(`Created ${made.data.id}.` + (secret ? ` Its signing secret (shown once): ${secret}` : ''));
      form.reset();
      await fill();
    } catch (e) {
      flash(`Not created: ${e.message}`, true);
    }
  });
  async function fill() {
    const page = await api('GET', orgPath('/notifications?limit=100'));
    list.replaceChildren(...page.data.items.map((n) => h('tr', { 'data-id': n.id },
      h('td', { class: 'mono' }, n.id), h('td', {}, n.type),
      h('td', {}, n.enabled ? 'enabled' : h('button', { class: 'quiet enable', onclick: () => act(`Enabled ${n.id}.`, 'PATCH', `/notifications/${n.id}`, {}) }, 'Enable')),
      h('td', {}, n.description || ''),
      h('td', { class: 'mono' }, (n.config && n.config.webhook && n.config.webhook.url) || (n.config && n.config.slack && n.config.slack.channel) || ''),
      h('td', {}, h('button', { class: 'quiet test', onclick: () => act(`Test notification queued for ${n.id}.`, 'POST', `/notifications/${n.id}/test`) }, 'Test')))));
  }
  async function act(done, method, rest, body) {
    try {
      await api(method, orgPath(rest), body);
      flash(done);
      await fill();
    } catch (e) {
      flash(e.message, true);
    }
  }
  await fill();
  main.replaceChildren(h('h1', {}, 'Notifications'),
    h('table', { id: 'notifications' }, h('thead', {}, h('tr', {}, ['Id', 'Type', 'Enabled', 'Description', 'Target', ''].map((c) => h('th', {}, c)))), list),
    form);
}

// ---------------------------------------------------------------------------------------------
// The delivery log

function deliveryRows(items) {
  return items.map((d) => {
    const history = (d.history || []).map((a) =>
      h('li', {}, `${time(a.at)}: ${a.outcome}${a.statusCode ? ' ' + a.statusCode : ''} in ${a.durationMs} ms${a.error ? ' — ' + a.error : ''}`));
    const resend = (d.status === 'failed' || d.status === 'sent')
      ? h('button', { class: 'quiet resend', 'data-id': d.id, onclick: () => resendDelivery(d.id) }, 'Resend') : '';
    return h('tr', { 'data-id': d.id, 'data-status': d.status, 'data-event': d.eventId },
      h('td', {}, time(d.createdAt)), h('td', {}, badge(d.status)), h('td', {}, d.method),
      h('td', { class: 'mono' }, d.notificationId || d.to || ''),
      h('td', { class: 'mono' }, d.eventId ? h('a', { href: '#event/' + d.eventId }, '…' + d.eventId.slice(-8)) : 'test'),
      h('td', {}, d.attempts, history.length ? h('details', {}, h('summary', {}, 'history'), h('ol', {}, history)) : ''),
      h('td', { class: 'error' }, (d.status === 'sent' ? '' : d.lastError) || d.reason || ''),
      h('td', {}, resend));
  });
}

function deliveryTable(id, body) {
  return h('table', { id }, h('thead', {}, h('tr', {},
    ['Created', 'Status', 'Method', 'Target', 'Event', 'Attempts', 'Last error', ''].map((c) => h('th', {}, c)))), body);
}

async function resendDelivery(id) {
  try {
    await api('POST', orgPath(`/deliveries/${id}/resend`));
    flash(`Delivery ${id} queued again.`);
    route();
  } catch (e) {
    flash(`Not resent: ${e.message}`, true);
  }
}

async function deliveriesPage(main) {
  const status = h('select', { id: 'filter-status' }, h('option', { value: '' }, 'any'), STATUSES.map((s) => h('option', { value: s }, s)));
  const event = h('input', { type: 'text', id: 'filter-event', placeholder: 'event id' });
  const body = h('tbody');
  const filters = h('form', { class: 'card', id: 'filters' }, h('label', {}, 'Status', status), h('label', {}, 'Event', event));
  const refresh = async () => {
    let q = '?limit=50';
    if (status.value) q += '&status=' + status.value;
    if (event.value.trim()) q += '&eventId=' + encodeURIComponent(event.value.trim());
    try {
      const page = await api('GET', orgPath('/deliveries' + q));
      body.replaceChildren(...deliveryRows(page.data.items));
    } catch (e) {
      flash(e.message, true);
    }
  };
  filters.addEventListener('change', refresh);
  filters.addEventListener('submit', (ev) => { ev.preventDefault(); refresh(); });
  const notifications = await api('GET', orgPath('/notifications?limit=100'));
  const which = h('select', { id: 'recover-notification' }, notifications.data.items.map((n) => h('option', { value: n.id }, `${n.type} ${n.description || n.id}`)));
  const since = h('input', { type: 'datetime-local', id: 'recover-since', required: true });
  const until = h('input', { type: 'datetime-local', id: 'recover-until' });
  const recover = h('form', { class: 'card', id: 'recover-form' }, h('h2', {}, 'Recover failed deliveries'),
    h('label', {}, 'Notification', which), h('label', {}, 'Since', since), h('label', {}, 'Until (optional)', until),
    h('button', { type: 'submit', id: 'recover' }, 'Recover'));
  recover.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const span = { since: new Date(since.value).toISOString() };
    if (until.value) span.until = new Date(until.value).toISOString();
    try {
      const done = await api('POST', orgPath(`/notifications/${which.value}/recover`), span);
      flash(`Queued ${done.data.queued} failed deliveries again${done.data.more ? '; more follow in the background' : ''}.`);
      refresh();
    } catch (e) {
      flash(`Not recovered: ${e.message}`, true);
    }
  });
  await refresh();
  main.replaceChildren(h('h1', {}, 'Delivery log'), filters, deliveryTable('deliveries', body), recover);
  timer = setInterval(refresh, REFRESH_MS);
}

async function eventPage(main, id) {
  const body = h('tbody');
  const refresh = async () => {
    const e = await api('GET', orgPath('/events/' + encodeURIComponent(id)));
    body.replaceChildren(...deliveryRows(e.data.deliveries.items));
    return e.data;
  };
  const e = await refresh();
  main.replaceChildren(h('h1', {}, `Event ${e.type}`),
    h('p', { class: 'mono' }, `${e.id} · ${time(e.createdAt)}`),
    h('pre', {}, JSON.stringify(e.data, null, 2)),
    h('h2', {}, 'Each target'), deliveryTable('event-deliveries', body));
  timer = setInterval(() => refresh().catch((err) => flash(err.message, true)), REFRESH_MS);
}

// ---------------------------------------------------------------------------------------------
// Settings

async function settingsPage(main) {
  const path = `/v1/environments/${org()}/notificationsSettings`;
  const [s, users] = await Promise.all([api('GET', path), api('GET', orgPath('/users?limit=100'))]);
  const listed = new Set((s.whitelist || []).map((w) => w.user.id));
  const quota = h('input', { type: 'number', id: 'sms-quota', min: 0, max: 50, value: s.restrictions.smsVoiceQuota.daily });
  const mode = h('select', { id: 'delivery-mode' }, ['ALL', 'WHITELIST'].map((m) => h('option', { value: m, selected: m === s.deliveryMode }, m)));
  const language = h('select', { id: 'language' }, ['en', 'de', 'fr', 'es'].map((l) => h('option', { value: l, selected: l === s.defaultLanguage }, l)));
  const whitelist = h('div', { class: 'events', id: 'whitelist' }, users.data.items.map((u) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', value: u.id, checked: listed.has(u.id) }), u.username)));
  const form = h('form', { class: 'card', id: 'settings-form' },
    h('label', {}, 'SMS per user per day', quota), h('label', {}, 'Delivery mode', mode), h('label', {}, 'Language', language),
    h('h2', {}, 'Whitelist'), whitelist, h('button', { type: 'submit', id: 'save-settings' }, 'Save'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      restrictions: { smsVoiceQuota: { daily: Number(quota.value) } },
      deliveryMode: mode.value,
      defaultLanguage: language.value,
      whitelist: [...whitelist.querySelectorAll('input:checked')].map((i) => ({ user: { id: i.value } })),
    };
    try {
      await api('PUT', path, body);
      flash('Settings saved.');
    } catch (e) {
      flash(`Not saved: ${e.message}`, true);
    }
  });
  main.replaceChildren(h('h1', {}, 'Settings'), form);
}

// ---------------------------------------------------------------------------------------------
// Routing

async function route() {
  clearInterval(timer);
  timer = null;
  const main = $('#main');
  const signedIn = !!orgOf(token);
  $('#nav').hidden = $('#notifier').hidden = $('#sign-out').hidden = !signedIn;
  if (!signedIn) {
    main.replaceChildren(signInPage());
    return;
  }
  const [page, arg] = (location.hash.slice(1) || 'deliveries').split('/');
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '#' + page));
  try {
    await loadNotifier();
    if (page === 'notifications') await notificationsPage(main);
    else if (page === 'settings') await settingsPage(main);
    else if (page === 'event' && arg) await eventPage(main, arg);
    else await deliveriesPage(main);
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem(KEY);
      token = null;
      flash(`Herald refused the token: ${e.message}`, true);
      route();
      return;
    }
    flash(e.message, true);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#paused').addEventListener('change', setNotifier);
  $('#sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  route();
});
