// fs web UI: a read-only single page over the registry, served by
// fs serve-lite (and fs ui) with the JSON API under api/v1/. Plain DOM, no
// framework, no build step, nothing loaded from elsewhere. Every view has
// a hash route (#/feature_view/NAME) to share; the page sets
// body[data-ready] once a view is drawn (the browser tests wait for it).
'use strict';

const main = document.getElementById('main');
const TOKEN_KEY = 'fs-token';
const KINDS = ['entity', 'source', 'feature_view', 'feature_service', 'model'];
const PLURAL = { entity: 'entities', source: 'sources', feature_view: 'feature_views',
	feature_service: 'feature_services', model: 'models' };
const TITLE = { entity: 'Entities', source: 'Sources', feature_view: 'Feature views',
	feature_service: 'Feature services', model: 'Models' };
const LABEL = { entity: 'entity', source: 'source', feature_view: 'feature view',
	feature_service: 'feature service', model: 'model' };
const STREAM_TYPES = ['kafka', 'redis_stream'];

// ---- DOM ----

function add(el, kids) {
	for (const k of kids.flat(Infinity))
		if (k != null && k !== false)
			el.append(k instanceof Node ? k : String(k));
	return el;
}

function set(el, props) {
	for (const [k, v] of Object.entries(props || {})) {
		if (v == null || v === false)
			continue;
		if (k === 'class')
			el.setAttribute('class', v);
		else if (k.startsWith('on'))
			el.addEventListener(k.slice(2), v);
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	return el;
}

const h = (tag, props, ...kids) => add(set(document.createElement(tag), props), kids);
const s = (tag, props, ...kids) =>
	add(set(document.createElementNS('http://www.w3.org/2000/svg', tag), props), kids);

const enc = encodeURIComponent;
const href = (...parts) => '#/' + parts.map(p => enc(String(p))).join('/');
const link = (kind, name, text) => h('a', { href: href(kind, name) }, text ?? name);
const vlink = (model, n) => h('a', { href: href('model', model, n) }, 'v' + n);

function table(heads, rows, empty) {
	if (!rows.length)
		return h('p', { class: 'muted' }, empty || 'None.');
	return h('div', { class: 'scroll' }, h('table', null,
		h('thead', null, h('tr', null, heads.map(c =>
			h('th', { class: c.startsWith('#') ? 'num' : null }, c.replace(/^#/, ''))))),
		h('tbody', null, rows)));
}

const td = (v, cls) => h('td', { class: cls }, v);
const num = v => h('td', { class: 'num' }, v == null ? '–' : v);
const facts = pairs => h('dl', { class: 'facts' },
	pairs.filter(p => p && p[1] != null && p[1] !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
const badge = (text, cls) => h('span', { class: 'badge ' + (cls || text) }, text);
const commas = (list, f) => list.map((x, i) => [i ? ', ' : '', f(x)]);

// ---- formatting ----

function duration(sec) {
	if (sec == null)
		return '–';
	if (sec < 0)
		return '-' + duration(-sec);
	const d = Math.floor(sec / 86400), hr = Math.floor(sec % 86400 / 3600),
		m = Math.floor(sec % 3600 / 60), x = Math.floor(sec % 60);
	if (d)
		return d + 'd' + (hr ? ' ' + hr + 'h' : '');
	if (hr)
		return hr + 'h' + (m ? ' ' + m + 'm' : '');
	if (m)
		return m + 'm' + (x ? ' ' + x + 's' : '');
	return x + 's';
}

const when = iso => iso ? h('time', { datetime: iso, title: iso + ' (UTC)' }, iso.replace('T', ' ')) : '–';
const short = sha => sha ? h('code', { title: sha }, sha.slice(0, 10)) : '–';
const person = a => a ? a.replace(/\s*<[^>]*>$/, '') : '–';

function bytes(n) {
	if (n == null)
		return '–';
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	for (; n >= 1024 && i < u.length - 1; i++)
		n /= 1024;
	return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

const kv = o => Object.entries(o || {}).map(([k, v]) =>
	h('span', { class: 'kv' }, h('code', null, k), '=', typeof v === 'string' ? v : JSON.stringify(v)));
const kvList = o => Object.keys(o || {}).length ? h('span', { class: 'chips' }, kv(o)) : '–';

// ---- the API ----

class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

async function api(path) {
	const token = sessionStorage.getItem(TOKEN_KEY);
	const r = await fetch('api/v1/' + path, {
		headers: token ? { Authorization: 'Bearer ' + token } : {},
		cache: 'no-store',
	});
	let body = null;
	try {
		body = await r.json();
	} catch (e) {
		// not JSON: the status says what went wrong
	}
	if (!r.ok)
		throw new ApiError(r.status, (body && body.error) || r.status + ' ' + r.statusText);
	return body;
}

// The registry as every page needs it: objects with their specs, the
// views' freshness (null when the online store did not answer) and the
// model versions.
async function registry() {
	const [objs, status, models] = await Promise.all([
		api('objects'),
		api('status').catch(e => {
			if (e.status === 401)
				throw e;
			return { error: e.message, views: [], streams: [] };
		}),
		api('models'),
	]);
	const by = {};
	for (const k of KINDS)
		by[k] = new Map();
	for (const o of objs.objects)
		by[o.kind].set(o.name, o);
	const fresh = new Map(status.views.map(v => [v.name, v]));
	const streams = new Map(status.streams.map(st => [st.source, st]));
	document.getElementById('project').textContent = objs.project || '';
	return { objs, by, status, fresh, streams, versions: models.versions };
}

// ---- what the objects say of each other ----

const viewFeatures = v => (v.spec.features || []).map(f => f.name);
const isAgg = v => Array.isArray(v.spec.aggregations) && v.spec.aggregations.length > 0;
const viewsOf = (r, pred) => [...r.by.feature_view.values()].filter(pred);
const servicesOf = (r, view) => [...r.by.feature_service.values()].filter(sv =>
	(sv.spec.features || []).some(f => f.view === view));
const modelsOf = (r, service) => [...r.by.model.values()].filter(m => m.spec.feature_service === service);
const versionsOf = (r, model) => r.versions.filter(v => v.model === model);
const inStage = (r, model, stage) => versionsOf(r, model).filter(v => v.stage === stage).map(v => v.version);

function location_(spec) {
	if (spec.type === 'push')
		return spec.batch_source ? ['push, batch source ', link('source', spec.batch_source)] : 'push';
	if (spec.type === 'request')
		return 'request';
	const where = spec.path || spec.table || spec.topic || spec.stream || spec.query;
	return where ? h('code', null, where) : '–';
}

// The columns of a source that the views reading it use.
function columnsRead(r, src) {
	const cols = new Set();
	for (const f of [src.spec.timestamp_field, src.spec.created_timestamp_field])
		if (f)
			cols.add(f);
	for (const v of viewsOf(r, v => v.spec.source === src.name)) {
		for (const e of v.spec.entities || []) {
			const ent = r.by.entity.get(e);
			if (ent)
				cols.add(ent.spec.join_key);
		}
		if (isAgg(v))
			v.spec.aggregations.forEach(a => a.column && cols.add(a.column));
		else
			viewFeatures(v).forEach(f => cols.add(f));
	}
	return [...cols];
}

// The online freshness limit of a view: its ttl, or for a view of windows
// its shortest window; null: none.
function limitOf(v) {
	if (v.spec.ttl > 0)
		return v.spec.ttl;
	if (isAgg(v))
		return Math.min(...v.spec.aggregations.map(a => a.window));
	return null;
}

// A view is stale when it never was materialized (nor fed by push or a
// stream), or when its staleness is past its limit.
function stale(v, st) {
	if (!st)
		return false;
	if (st.last_end == null)
		return true;
	const lim = limitOf(v);
	return lim != null && st.staleness_seconds > lim;
}

function streamOf(r, v) {
	const src = r.by.source.get(v.spec.source);
	return src && STREAM_TYPES.includes(src.spec.type) ? r.streams.get(src.name) || null : null;
}

function freshness(r, v) {
	const st = r.fresh.get(v.name);
	if (!v.spec.online)
		return badge('offline only', 'none');
	if (!st)
		return '–';
	return stale(v, st) ? badge(st.last_end ? 'stale' : 'not materialized', 'stale') : badge('fresh');
}

// ---- pages ----

function overview(r) {
	const last = r.objs.last_apply;
	const counts = KINDS.map(k => h('a', { class: 'card', href: '#/' + PLURAL[k] },
		h('b', null, r.by[k].size), TITLE[k]));
	counts.push(h('a', { class: 'card', href: '#/models' }, h('b', null, r.versions.length), 'Model versions'));
	const views = [...r.by.feature_view.values()].filter(v => v.spec.online);
	const staleViews = views.filter(v => stale(v, r.fresh.get(v.name)));
	const prod = [...r.by.model.values()].map(m => [m, inStage(r, m.name, 'production')]);
	return [
		h('h1', null, r.objs.project || 'fs'),
		facts([
			['Registry version', String(r.objs.registry_version)],
			['Last apply', last ? [short(last.commit), ' by ', person(last.author), ', ', when(last.time)] : 'never'],
			['Summary', last ? last.summary : null],
		]),
		h('div', { class: 'cards' }, counts),
		h('h2', null, 'Freshness'),
		r.status.error ? h('p', { class: 'error' }, 'The online store did not answer: ' + r.status.error) : null,
		staleViews.length ? h('p', { class: 'stale-summary' }, badge(staleViews.length + ' stale', 'stale'), ' ',
			commas(staleViews, v => link('feature_view', v.name))) : h('p', { class: 'muted' }, 'No view is stale.'),
		table(['View', 'Last end', '#Staleness', '#Limit', '#Keys', 'State'], views.map(v => {
			const st = r.fresh.get(v.name) || {};
			return h('tr', { class: stale(v, st) ? 'stale' : null, 'data-view': v.name },
				td(link('feature_view', v.name)), td(when(st.last_end)), num(duration(st.staleness_seconds)),
				num(duration(limitOf(v))), num(st.keys), td(freshness(r, v)));
		}), 'No online feature view.'),
		h('h2', null, 'In production'),
		table(['Model', 'Version', 'Feature service'], prod.map(([m, vs]) => h('tr', null,
			td(link('model', m.name)),
			td(vs.length ? commas(vs, n => vlink(m.name, n)) : h('span', { class: 'muted' }, 'none')),
			td(m.spec.feature_service ? link('feature_service', m.spec.feature_service) : '–'))), 'No model.'),
	];
}

function listPage(kind) {
	return r => {
		const objs = [...r.by[kind].values()];
		const rows = {
			entity: o => [td(link('entity', o.name)), td(h('code', null, o.spec.join_key)), td(o.spec.type || '–'),
				td(o.spec.description || ''), td(commas(viewsOf(r, v => (v.spec.entities || []).includes(o.name)),
					v => link('feature_view', v.name)))],
			source: o => [td(link('source', o.name)), td(o.spec.type), td(location_(o.spec)),
				td(commas(columnsRead(r, o), c => h('code', null, c))),
				td(commas(viewsOf(r, v => v.spec.source === o.name), v => link('feature_view', v.name)))],
			feature_view: o => {
				const st = r.fresh.get(o.name) || {}, stream = streamOf(r, o);
				return [td(link('feature_view', o.name)), td(commas(o.spec.entities || [], e => link('entity', e))),
					td(link('source', o.spec.source)), num(viewFeatures(o).length),
					td(isAgg(o) ? commas(o.spec.aggregations, a => duration(a.window)) : 'ttl ' + duration(o.spec.ttl || null)),
					td(o.spec.online ? 'yes' : 'no'), td(when(st.batch_end !== undefined ? st.batch_end : st.last_end)),
					num(duration(st.staleness_seconds)), num(st.keys), num(stream ? stream.lag : null), td(freshness(r, o))];
			},
			feature_service: o => [td(link('feature_service', o.name)),
				td(commas(o.spec.features || [], f => [link('feature_view', f.view), ': ', f.features ? f.features.join(', ') : 'all'])),
				td(commas(modelsOf(r, o.name), m => link('model', m.name)))],
			model: o => modelRow(r, o),
		}[kind];
		const heads = {
			entity: ['Name', 'Join key', 'Type', 'Description', 'Feature views'],
			source: ['Name', 'Type', 'Location', 'Columns read', 'Read by'],
			feature_view: ['Name', 'Entities', 'Source', '#Features', 'TTL or windows', 'Online', 'Batch end',
				'#Staleness', '#Keys', '#Stream lag', 'State'],
			feature_service: ['Name', 'Features', 'Models'],
			model: ['Name', '#Versions', 'Production', 'Staging', 'Newest metrics', 'Feature service'],
		}[kind];
		return [h('h1', null, TITLE[kind]),
			table(heads, objs.map(o => h('tr', { 'data-name': o.name, class: kind === 'feature_view' &&
				stale(o, r.fresh.get(o.name)) ? 'stale' : null }, rows(o))), 'No ' + LABEL[kind] + ' is registered.')];
	};
}

function modelRow(r, o) {
	const vs = versionsOf(r, o.name), newest = vs[vs.length - 1];
	const stage = st => commas(inStage(r, o.name, st), n => vlink(o.name, n));
	return [td(link('model', o.name)), num(vs.length), td(stage('production')), td(stage('staging')),
		td(newest ? kvList(newest.metrics) : '–'), td(o.spec.feature_service ? link('feature_service', o.spec.feature_service) : '–')];
}

// The versions of an object with a diff between any two.
function versionsSection(kind, name, versions, title) {
	const rows = versions.slice().reverse().map(v => h('tr', { 'data-version': v.version },
		num('v' + v.version), td(v.op), num(v.registry_version), td(short(v.commit)), td(person(v.author)),
		td(when(v.time)), td(v.version > 1 ? h('a', { href: href('diff', kind, name, v.version - 1, v.version) },
			'diff with v' + (v.version - 1)) : '')));
	const out = [h('h2', null, title || 'Versions'), table(['#Version', 'Change', '#Registry', 'Commit', 'Author', 'Time', ''], rows)];
	if (versions.length > 1) {
		const pick = (id, sel) => h('select', { id, 'aria-label': id === 'diff-a' ? 'From version' : 'To version' },
			versions.map(v => h('option', { value: v.version, selected: v.version === sel }, 'v' + v.version)));
		const a = pick('diff-a', versions[versions.length - 2].version), b = pick('diff-b', versions[versions.length - 1].version);
		out.push(h('form', { class: 'token', onsubmit: e => {
			e.preventDefault();
			location.hash = href('diff', kind, name, a.value, b.value);
		} }, 'Compare ', a, ' with ', b, h('button', { type: 'submit' }, 'Diff')));
	}
	return out;
}

async function detail(r, kind, name) {
	const o = await api('objects/' + enc(kind) + '/' + enc(name));
	const spec = o.spec;
	const parts = [h('h1', null, h('span', { class: 'kind' }, LABEL[kind]), name),
		spec.description ? h('p', null, spec.description) : null];
	const lineage = h('p', null, h('a', { href: href('lineage', kind, name) }, 'Show in the lineage graph'));
	if (kind === 'entity') {
		parts.push(facts([['Join key', h('code', null, spec.join_key)], ['Type', spec.type]]),
			h('h2', null, 'Feature views'),
			table(['View', 'Source'], viewsOf(r, v => (v.spec.entities || []).includes(name)).map(v =>
				h('tr', null, td(link('feature_view', v.name)), td(link('source', v.spec.source))))));
	} else if (kind === 'source') {
		const base = Object.entries(spec).filter(([k]) => !['name', 'description', 'type', 'tags'].includes(k));
		parts.push(facts([['Type', spec.type], ['Location', location_(spec)],
			...base.map(([k, v]) => [k, typeof v === 'string' ? h('code', null, v) : JSON.stringify(v)])]),
			h('h2', null, 'Columns read'), h('p', null, commas(columnsRead(r, o), c => h('code', null, c))),
			h('h2', null, 'Read by'),
			table(['View', 'Entities'], viewsOf(r, v => v.spec.source === name).map(v =>
				h('tr', null, td(link('feature_view', v.name)), td((v.spec.entities || []).join(', '))))), lineage);
		const st = r.streams.get(name);
		if (st)
			parts.push(h('h2', null, 'Stream'), streamFacts(st));
	} else if (kind === 'feature_view') {
		parts.push(...viewDetail(r, o), lineage);
	} else if (kind === 'feature_service') {
		parts.push(h('h2', null, 'Features'),
			table(['View', 'Features'], (spec.features || []).map(f => h('tr', null, td(link('feature_view', f.view)),
				td(f.features ? f.features.join(', ') : 'all')))),
			h('h2', null, 'Models'),
			table(['Model', 'Production'], modelsOf(r, name).map(m => h('tr', null, td(link('model', m.name)),
				td(commas(inStage(r, m.name, 'production'), n => vlink(m.name, n)))))), lineage);
	} else if (kind === 'model') {
		location.replace(href('model', name));
		return null;
	}
	if (spec.tags)
		parts.push(h('h2', null, 'Tags'), h('p', null, kvList(spec.tags)));
	parts.push(...versionsSection(kind, name, o.versions));
	return parts;
}

function streamFacts(st) {
	return facts([['Type', st.type], [st.topic != null ? 'Topic' : 'Stream', h('code', null, st.topic ?? st.stream)],
		['Lag', st.lag == null ? 'unknown' : String(st.lag)], ['Applied', String(st.applied)], ['Bad', String(st.bad)],
		['Late', String(st.late)], ['Newest event', when(st.newest_event)]]);
}

function viewDetail(r, v) {
	const spec = v.spec, st = r.fresh.get(v.name), stream = streamOf(r, v);
	const out = [facts([
		['Entities', commas(spec.entities || [], e => link('entity', e))],
		['Source', link('source', spec.source)],
		['TTL', isAgg(v) ? null : duration(spec.ttl || null)],
		['Online', spec.online ? 'yes' : 'no'],
		['State', freshness(r, v)],
		['Last end', st ? when(st.last_end) : null],
		['Batch end', st && st.batch_end !== undefined ? when(st.batch_end) : null],
		['Staleness', st ? duration(st.staleness_seconds) : null],
		['Online keys', st ? String(st.keys) : null],
		['Events applied', st && st.events_applied !== undefined ? String(st.events_applied) : null],
		['Stream lag', stream ? (stream.lag == null ? 'unknown' : String(stream.lag)) : null],
	])];
	if (isAgg(v))
		out.push(h('h2', null, 'Aggregations'), table(['Feature', 'Function', 'Column', 'Window', 'Hop', 'Type'],
			spec.aggregations.map((a, i) => h('tr', { 'data-feature': a.name }, td(h('code', null, a.name)), td(a.function),
				td(a.column ? h('code', null, a.column) : '–'), td(duration(a.window)), td(duration(a.hop)),
				td((spec.features[i] || {}).type || a.type || '–')))));
	else
		out.push(h('h2', null, 'Features'), table(['Feature', 'Type'], (spec.features || []).map(f =>
			h('tr', { 'data-feature': f.name }, td(h('code', null, f.name)), td(f.type)))));
	out.push(h('h2', null, 'Used by'), table(['Feature service', 'Models'], servicesOf(r, v.name).map(sv =>
		h('tr', null, td(link('feature_service', sv.name)), td(commas(modelsOf(r, sv.name), m => link('model', m.name)))))));
	if (stream)
		out.push(h('h2', null, 'Stream'), streamFacts(stream));
	return out;
}

// ---- models ----

// Each version's time in each stage: [{version, stage, from, to}], to
// null while it holds the stage.
function stagePeriods(transitions) {
	const open = new Map(), out = [];
	for (const t of transitions.slice().sort((a, b) => a.at_unix - b.at_unix)) {
		const cur = open.get(t.version);
		if (cur) {
			cur.to = t.at_unix;
			out.push(cur);
		}
		open.set(t.version, { version: t.version, stage: t.to, from: t.at_unix, to: null });
	}
	out.push(...open.values());
	return out.filter(p => p.stage === 'staging' || p.stage === 'production');
}

function timeline(transitions) {
	const periods = stagePeriods(transitions);
	if (!periods.length)
		return h('p', { class: 'muted' }, 'No version has been in staging or production.');
	const now = Math.floor(Date.now() / 1000);
	const t0 = Math.min(...transitions.map(t => t.at_unix));
	const t1 = Math.max(now, t0 + 60);
	const W = 900, left = 90, right = 20, laneH = 22, gap = 10;
	const x = t => left + (t - t0) / (t1 - t0) * (W - left - right);
	const rows = [];
	let y = 10;
	for (const stage of ['production', 'staging']) {
		// lanes so that overlapping holders of one stage do not cover each other
		const lanes = [];
		const ps = periods.filter(p => p.stage === stage).sort((a, b) => a.from - b.from);
		for (const p of ps) {
			let i = lanes.findIndex(end => end <= p.from);
			if (i < 0)
				i = lanes.push(0) - 1;
			lanes[i] = p.to ?? Infinity;
			p.lane = i;
		}
		const n = Math.max(lanes.length, 1);
		rows.push(s('text', { x: 0, y: y + n * laneH / 2 + 4 }, stage));
		for (const p of ps) {
			const x0 = x(p.from), x1 = Math.max(x(p.to ?? t1), x0 + 4), by = y + p.lane * laneH;
			rows.push(s('g', { class: 'bar-group' },
				s('rect', { class: 'bar ' + stage, x: x0, y: by + 2, width: x1 - x0, height: laneH - 4, rx: 3,
					'data-version': p.version, 'data-stage': stage },
				s('title', null, `v${p.version} in ${stage} from ${iso(p.from)}` + (p.to ? ` to ${iso(p.to)}` : ' until now'))),
				x1 - x0 > 26 ? s('text', { class: 'bar-label', x: x0 + 5, y: by + laneH / 2 + 4 }, 'v' + p.version) : null));
		}
		y += n * laneH + gap;
	}
	rows.push(s('line', { class: 'axis', x1: left, x2: W - right, y1: y, y2: y }),
		s('text', { class: 'sub', x: left, y: y + 16 }, iso(t0)),
		s('text', { class: 'sub', x: W - right, y: y + 16, 'text-anchor': 'end' }, 'now'));
	return h('div', { class: 'graph' }, s('svg', { id: 'timeline', viewBox: `0 0 ${W} ${y + 24}`, width: W,
		height: y + 24, role: 'img', 'aria-label': 'Which version held staging and production when' }, rows));
}

const plural = (n, w) => n + ' ' + w + (n === 1 ? '' : 's');
const iso = t => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

// promotion: {production: {from: [staging], metrics: {auc: ">= 0.8"}}} as lines
function gates(promotion) {
	const lines = Object.entries(promotion || {}).map(([stage, g]) => h('div', null, h('b', null, stage), ': ',
		g.from ? 'from ' + g.from.join(' or ') : 'from any stage',
		Object.entries(g.metrics || {}).map(([m, cond]) => [', ', h('code', null, m + ' ' + cond)]),
		Object.entries(g).filter(([k]) => k !== 'from' && k !== 'metrics').map(([k, v]) =>
			[', ', h('code', null, k + ' ' + JSON.stringify(v))])));
	return lines.length ? lines : 'none';
}

async function modelPage(r, name, version) {
	const m = await api('models/' + enc(name));
	const spec = r.by.model.get(name);
	if (version != null)
		return modelVersion(r, m, Number(version));
	const trail = m.transitions.map(t => ({ at: t.at, at_unix: t.at_unix, version: t.version, author: t.author,
		what: t.from ? [badge(t.from), ' → ', badge(t.to), t.forced ? ' (forced)' : ''] : 'registered',
		reason: t.from ? t.reason : null }));
	for (const a of m.alias_changes || [])
		trail.push({ at: a.at, at_unix: a.at_unix, version: a.version ?? a.previous, author: a.author,
			what: ['alias ', h('code', null, a.alias), a.version == null ? ` deleted (was v${a.previous})` :
				a.previous != null ? ` moved from v${a.previous}` : ' set'], reason: null });
	trail.sort((a, b) => (a.at_unix ?? 0) - (b.at_unix ?? 0));
	return [h('h1', null, h('span', { class: 'kind' }, 'model'), name),
		spec && spec.spec.description ? h('p', null, spec.spec.description) : null,
		spec ? facts([['Feature service', spec.spec.feature_service ? link('feature_service', spec.spec.feature_service) : '–'],
			['Promotion gates', gates(spec.spec.promotion)]]) : null,
		h('h2', null, 'Stage timeline'), timeline(m.transitions),
		h('div', { class: 'legend muted' }, h('span', null, badge('production')), h('span', null, badge('staging'))),
		h('h2', null, 'Versions'),
		table(['#Version', 'Stage', 'Aliases', 'Metrics', 'Params', 'Tags', 'Artifact', '#Size', 'Created', 'Author'],
			m.versions.slice().reverse().map(v => h('tr', { 'data-version': v.version },
				num(vlink(name, v.version)), td(badge(v.stage)),
				td(v.aliases.length ? v.aliases.join(', ') : '–'), td(kvList(v.metrics)), td(kvList(v.params)), td(kvList(v.tags)),
				td(short(v.artifact.sha256)), num(bytes(v.artifact.size)), td(when(v.created_at)), td(person(v.author)))),
			'No version is registered yet: fs register-model ' + name + ' --artifact FILE'),
		h('h2', null, 'Audit trail'),
		table(['Time', '#Version', 'Change', 'Author', 'Reason'], trail.map(t => h('tr', null, td(when(t.at)),
			num(t.version != null ? 'v' + t.version : '–'), td(t.what), td(person(t.author)), td(t.reason || '')))),
		spec ? versionsSection('model', name, (await api('objects/model/' + enc(name))).versions, 'Definition versions') : null];
}

function modelVersion(r, m, n) {
	const v = m.versions.find(x => x.version === n);
	if (!v)
		throw new ApiError(404, `model '${m.model}' has no version ${n}`);
	const lin = v.lineage || {};
	return [h('h1', null, h('span', { class: 'kind' }, 'model'), link('model', m.model), ' v' + n),
		v.description ? h('p', null, v.description) : null,
		facts([['Stage', badge(v.stage)], ['Aliases', v.aliases.join(', ') || '–'], ['Created', when(v.created_at)],
			['Author', person(v.author)], ['Metrics', kvList(v.metrics)], ['Params', kvList(v.params)], ['Tags', kvList(v.tags)]]),
		h('h2', null, 'Artifact'),
		facts([['URI', h('code', null, v.artifact.uri)], ['Kind', v.artifact.kind], ['SHA-256', h('code', null, v.artifact.sha256)],
			['Size', bytes(v.artifact.size)], ['Stored', v.artifact.path ? 'in the artifact store' : 'no']]),
		h('h2', null, 'Lineage'),
		facts([['Feature service', lin.feature_service ? link('feature_service', lin.feature_service) : '–'],
			['Registry version', lin.registry_version != null ? String(lin.registry_version) : '–'],
			['Git commit', short(lin.git_commit)]]),
		table(['Feature view', '#Version', 'Features'], (lin.feature_views || []).map(fv => h('tr', null,
			td(link('feature_view', fv.name)), num('v' + fv.version), td(commas(fv.features || [], f => h('code', null, f.name)))))),
		h('h2', null, 'Transitions'),
		table(['Time', 'From', 'To', 'Author', 'Reason'], m.transitions.filter(t => t.version === n).map(t => h('tr', null,
			td(when(t.at)), td(t.from || '–'), td(t.to), td(person(t.author)), td(t.reason || ''))))];
}

// ---- lineage: sources → feature views → feature services → models ----

function graph(r, focus) {
	const cols = ['source', 'feature_view', 'feature_service', 'model'];
	const edges = [];
	for (const v of r.by.feature_view.values())
		if (r.by.source.has(v.spec.source))
			edges.push(['source:' + v.spec.source, 'feature_view:' + v.name]);
	for (const sv of r.by.feature_service.values())
		for (const f of new Set((sv.spec.features || []).map(f => f.view)))
			if (r.by.feature_view.has(f))
				edges.push(['feature_view:' + f, 'feature_service:' + sv.name]);
	for (const m of r.by.model.values())
		if (r.by.feature_service.has(m.spec.feature_service))
			edges.push(['feature_service:' + m.spec.feature_service, 'model:' + m.name]);
	// order each column by the mean place of its inputs (fewer crossings)
	const place = new Map(), order = [];
	cols.forEach((k, c) => {
		const names = [...r.by[k].keys()].map(n => k + ':' + n);
		const key = id => {
			const ins = edges.filter(e => e[1] === id).map(e => place.get(e[0]));
			return ins.length ? ins.reduce((a, b) => a + b, 0) / ins.length : Infinity;
		};
		if (c)
			names.sort((a, b) => key(a) - key(b) || a.localeCompare(b));
		names.forEach((id, i) => place.set(id, i));
		order.push(names);
	});
	// the nodes near the focus: what feeds it and what it feeds
	const near = new Set();
	if (focus) {
		const walk = (id, dir) => {
			near.add(id);
			for (const e of edges)
				if (e[dir ? 0 : 1] === id && !near.has(e[dir ? 1 : 0]))
					walk(e[dir ? 1 : 0], dir);
		};
		walk(focus, true);
		near.delete(focus);
		walk(focus, false);
	}
	const NW = 200, NH = 44, CG = 70, RG = 14, top = 30;
	const W = cols.length * NW + (cols.length - 1) * CG + 20;
	const rows = Math.max(1, ...order.map(o => o.length));
	const H = top + rows * (NH + RG) + 10;
	const pos = new Map();
	order.forEach((ids, c) => ids.forEach((id, i) => pos.set(id, [10 + c * (NW + CG), top + i * (NH + RG)])));
	const label = t => t.length > 24 ? t.slice(0, 23) + '…' : t;
	const kids = cols.map((k, c) => s('text', { class: 'col', x: 10 + c * (NW + CG), y: 16 }, TITLE[k]));
	for (const [a, b] of edges) {
		const [ax, ay] = pos.get(a), [bx, by] = pos.get(b);
		const x0 = ax + NW, y0 = ay + NH / 2, x1 = bx, y1 = by + NH / 2, mx = (x0 + x1) / 2;
		kids.push(s('path', { class: 'edge', 'data-from': a, 'data-to': b,
			d: `M${x0},${y0} C${mx},${y0} ${mx},${y1} ${x1},${y1}`, 'marker-end': 'url(#arrow)' }));
	}
	for (const [id, [x, y]] of pos) {
		const [kind, name] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
		const o = r.by[kind].get(name);
		let sub = LABEL[kind];
		if (kind === 'source')
			sub = o.spec.type;
		else if (kind === 'feature_view')
			sub = isAgg(o) ? plural(o.spec.aggregations.length, 'window') : plural(viewFeatures(o).length, 'feature');
		else if (kind === 'feature_service')
			sub = plural((o.spec.features || []).length, 'view');
		else if (kind === 'model') {
			const p = inStage(r, name, 'production');
			sub = p.length ? 'v' + p.join(', v') + ' in production' : 'none in production';
		}
		kids.push(s('a', { class: 'node ' + kind + (id === focus ? ' focus' : '') + (near.has(id) ? ' near' : ''),
			href: href(kind, name), 'data-id': id },
		s('title', null, LABEL[kind] + ' ' + name),
		s('rect', { x, y, width: NW, height: NH }),
		s('text', { x: x + 10, y: y + 18 }, label(name)),
		s('text', { class: 'sub', x: x + 10, y: y + 34 }, sub)));
	}
	const defs = s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7,
		markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' })));
	return s('svg', { id: 'lineage', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
		'aria-label': 'Lineage: sources, feature views, feature services and models' }, defs, kids);
}

function lineagePage(r, kind, name) {
	const focus = kind && name ? kind + ':' + name : null;
	if (focus && !(r.by[kind] && r.by[kind].has(name)))
		throw new ApiError(404, `no ${LABEL[kind] || kind} '${name}' in the lineage graph`);
	return [h('h1', null, 'Lineage', focus ? [' of ', link(kind, name)] : ''),
		h('p', { class: 'muted' }, 'Sources feed feature views, which feature services select for models. Each box links to its page.'),
		h('div', { class: 'graph' }, graph(r, focus))];
}

// ---- history ----

async function history() {
	const log = await api('log');
	return [h('h1', null, 'History'),
		table(['#Registry', 'Commit', 'Author', 'Time', 'Summary', 'Changes'], log.applies.map(a =>
			h('tr', { 'data-registry-version': a.registry_version }, num(a.registry_version), td(short(a.commit)),
				td(person(a.author)), td(when(a.time)), td(a.summary),
				td(commas(a.changes, c => [c.op, ' ', c.op === '-' ? c.name : link(c.kind, c.name), ' v' + c.version,
					c.op === '~' && c.version > 1 ? [' (', h('a', { href: href('diff', c.kind, c.name, c.version - 1, c.version) },
						'diff'), ')'] : ''])))), 'Nothing has been applied yet: fs apply')];
}

// Lines of a against b: [[' ' | '-' | '+', line]], by their longest common subsequence.
function diffLines(a, b) {
	const n = a.length, m = b.length, L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
	for (let i = n - 1; i >= 0; i--)
		for (let j = m - 1; j >= 0; j--)
			L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
	const out = [];
	let i = 0, j = 0;
	while (i < n && j < m) {
		if (a[i] === b[j]) {
			out.push([' ', a[i]]);
			i++;
			j++;
		} else if (L[i + 1][j] >= L[i][j + 1]) {
			out.push(['-', a[i++]]);
		} else {
			out.push(['+', b[j++]]);
		}
	}
	while (i < n)
		out.push(['-', a[i++]]);
	while (j < m)
		out.push(['+', b[j++]]);
	return out;
}

const sorted = v => Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ?
	Object.fromEntries(Object.keys(v).sort().map(k => [k, sorted(v[k])])) : v;

async function diffPage(r, kind, name, va, vb) {
	const o = await api('objects/' + enc(kind) + '/' + enc(name));
	const find = n => {
		const v = o.versions.find(x => String(x.version) === String(n));
		if (!v)
			throw new ApiError(404, `${LABEL[kind] || kind} '${name}' has no version ${n}`);
		return v;
	};
	const a = find(va), b = find(vb);
	const lines = diffLines(JSON.stringify(sorted(a.spec), null, 2).split('\n'), JSON.stringify(sorted(b.spec), null, 2).split('\n'));
	const changed = lines.filter(l => l[0] !== ' ').length;
	return [h('h1', null, h('span', { class: 'kind' }, LABEL[kind]), link(kind, name), ` v${a.version} → v${b.version}`),
		facts([[`v${a.version}`, [short(a.commit), ', ', person(a.author), ', ', when(a.time)]],
			[`v${b.version}`, [short(b.commit), ', ', person(b.author), ', ', when(b.time)]]]),
		h('p', { class: 'muted' }, changed ? changed + ' lines changed' : 'The two specs are the same.'),
		h('pre', { class: 'diff', id: 'diff' }, lines.map(([op, t]) =>
			h('div', { class: op === '+' ? 'add' : op === '-' ? 'del' : null }, op + ' ' + t)))];
}

// ---- search: names, feature names and tags ----

function search(r, q) {
	const needle = (q || '').trim().toLowerCase();
	const hits = [];
	if (needle) {
		const has = t => t != null && String(t).toLowerCase().includes(needle);
		const tags = (where, kind, name, t) => Object.entries(t || {}).forEach(([k, v]) => {
			if (has(k) || has(v))
				hits.push([kind, name, where + 'tag ' + k + '=' + v]);
		});
		for (const k of KINDS)
			for (const o of r.by[k].values()) {
				if (has(o.name))
					hits.push([k, o.name, 'name']);
				if (k === 'feature_view')
					for (const f of viewFeatures(o))
						if (has(f))
							hits.push([k, o.name, 'feature ' + f]);
				tags('', k, o.name, o.spec.tags);
			}
		for (const v of r.versions)
			tags('v' + v.version + ' ', 'model', v.model, v.tags);
	}
	return [h('h1', null, 'Search'),
		needle ? h('p', { class: 'muted' }, hits.length + (hits.length === 1 ? ' match' : ' matches') + ' for ', h('code', null, q)) :
			h('p', { class: 'muted' }, 'Type in the search box: names, feature names and tags.'),
		table(['Kind', 'Name', 'Matched'], hits.map(([k, n, what]) => h('tr', { 'data-kind': k, 'data-name': n },
			td(LABEL[k]), td(link(k, n)), td(what))), needle ? 'Nothing matches.' : '')];
}

// ---- the token, asked for once and kept for the tab ----

function tokenForm(refused) {
	const input = h('input', { id: 'token-input', type: 'password', autocomplete: 'off', required: true,
		'aria-label': 'Token' });
	const form = h('form', { class: 'token', id: 'token-form', onsubmit: e => {
		e.preventDefault();
		sessionStorage.setItem(TOKEN_KEY, input.value.trim());
		route();
	} }, input, h('button', { type: 'submit' }, 'Use token'));
	setTimeout(() => input.focus(), 0);
	return [h('h1', null, 'Token'),
		refused ? h('p', { class: 'error' }, 'The server refused that token.') : null,
		h('p', null, 'This server needs a token (one of the lines of its ', h('code', null, '--token-file'),
			'). It is kept for this tab only.'), form];
}

// ---- routing ----

const pages = {
	'': r => overview(r),
	entities: listPage('entity'), sources: listPage('source'), feature_views: listPage('feature_view'),
	feature_services: listPage('feature_service'), models: listPage('model'),
	entity: (r, n) => detail(r, 'entity', n), source: (r, n) => detail(r, 'source', n),
	feature_view: (r, n) => detail(r, 'feature_view', n), feature_service: (r, n) => detail(r, 'feature_service', n),
	model: (r, n, v) => modelPage(r, n, v),
	lineage: (r, k, n) => lineagePage(r, k, n),
	history: () => history(),
	diff: (r, k, n, a, b) => diffPage(r, k, n, a, b),
	search: (r, q) => search(r, q),
};

let seq = 0;

async function route() {
	const my = ++seq;
	const raw = location.hash.replace(/^#\/?/, '');
	let parts;
	try {
		parts = raw ? raw.split('/').map(decodeURIComponent) : [''];
	} catch (e) {
		parts = [null];
	}
	document.body.removeAttribute('data-ready');
	let view;
	try {
		const page = pages[parts[0]];
		if (!page)
			throw new ApiError(404, 'no such page: #/' + raw);
		const r = await registry();
		view = await page(r, ...parts.slice(1));
	} catch (e) {
		if (e.status === 401) {
			const had = sessionStorage.getItem(TOKEN_KEY) != null;
			sessionStorage.removeItem(TOKEN_KEY);
			view = tokenForm(had);
		} else {
			view = [h('h1', null, e.status === 404 ? 'Not found' : 'Error'), h('p', { class: 'error' }, e.message),
				h('p', null, h('a', { href: '#/' }, 'Back to the overview'))];
		}
	}
	if (my !== seq || view == null)
		return;
	main.replaceChildren(...add(document.createDocumentFragment(), view).childNodes);
	const section = { entity: 'entities', source: 'sources', feature_view: 'feature_views',
		feature_service: 'feature_services', model: 'models', diff: null, search: null }[parts[0]];
	const at = '#/' + (section !== undefined ? section || '-' : parts[0] || '');
	for (const a of document.querySelectorAll('nav a'))
		a.classList.toggle('active', a.getAttribute('href') === at);
	if (document.activeElement !== q)
		q.value = parts[0] === 'search' ? parts[1] || '' : '';
	const h1 = main.querySelector('h1');
	document.title = (h1 ? h1.textContent + ' · ' : '') + 'fs';
	if (document.activeElement !== q && !main.contains(document.activeElement))
		main.focus({ preventScroll: true });
	document.body.dataset.route = raw;
	document.body.dataset.ready = String(my);
}

const q = document.getElementById('q');
q.addEventListener('input', () => location.replace(q.value.trim() ? '#/search/' + enc(q.value) : '#/search'));
document.getElementById('search').addEventListener('submit', e => {
	e.preventDefault();
	location.hash = '#/search/' + enc(q.value);
});
document.addEventListener('keydown', e => {
	const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
	if (e.key === '/' && !typing) {
		e.preventDefault();
		q.focus();
		q.select();
	} else if (e.key === 'Escape' && document.activeElement === q) {
		q.blur();
	}
});
window.addEventListener('hashchange', route);
route();
