#include "keymap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"
#include "banned.h"

/*
 * 24 bytes: the table is probed at random, so its size in cache lines is
 * what lookups cost. No stored hash: keys of up to 8 bytes compare inline,
 * longer ones against the arena (rare, with half the slots empty).
 */
struct slot {
	uint64_t inline_key; /* keys of up to 8 bytes, compared without the arena */
	int64_t aux;         /* the caller's (fs_keymap_find_aux) */
	uint32_t id;         /* FS_KEY_NONE: empty */
	uint32_t len;
};

struct fs_keymap {
	struct slot *slots;
	size_t mask, n;
	char *arena; /* keys, back to back */
	size_t arena_len, arena_alloc;
	size_t *off; /* off[id]: start of key id in arena; off[n]: end */
	size_t off_alloc;
};

static uint64_t hash_bytes(const void *p, size_t len)
{
	/* FNV-1a, 8 bytes at a time, finished with a murmur-style mix */
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ len;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

struct fs_keymap *fs_keymap_new(void)
{
	struct fs_keymap *m = xcalloc(1, sizeof(*m));
	size_t i;

	m->mask = 1023;
	m->slots = xmalloc((m->mask + 1) * sizeof(*m->slots));
	for (i = 0; i <= m->mask; i++)
		m->slots[i].id = FS_KEY_NONE;
	ALLOC_GROW(m->off, 1, m->off_alloc);
	m->off[0] = 0;
	return m;
}

void fs_keymap_free(struct fs_keymap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m->arena);
	free(m->off);
	free(m);
}

static uint64_t small_key(const void *key, size_t len)
{
	uint64_t v = 0;
	memcpy(&v, key, len);
	return v;
}

static int same_key(const struct fs_keymap *m, const struct slot *s, const void *key, size_t len)
{
	size_t a;

	if (s->len != len)
		return 0;
	if (len <= 8)
		return s->inline_key == small_key(key, len);
	a = m->off[s->id];
	return !memcmp(m->arena + a, key, len);
}

static struct slot *find_slot(const struct fs_keymap *m, const void *key, size_t len)
{
	uint64_t h = hash_bytes(key, len);
	size_t i = h & m->mask;

	for (;; i = (i + 1) & m->mask) {
		struct slot *s = &m->slots[i];
		if (s->id == FS_KEY_NONE)
			return NULL;
		if (same_key(m, s, key, len))
			return s;
	}
}

void fs_keymap_prefetch(const struct fs_keymap *m, const void *key, size_t len)
{
	__builtin_prefetch(&m->slots[hash_bytes(key, len) & m->mask]);
}

uint32_t fs_keymap_find(const struct fs_keymap *m, const void *key, size_t len)
{
	const struct slot *s = find_slot(m, key, len);
	return s ? s->id : FS_KEY_NONE;
}

uint32_t fs_keymap_find_aux(struct fs_keymap *m, const void *key, size_t len, int64_t **aux)
{
	struct slot *s = find_slot(m, key, len);

	*aux = s ? &s->aux : NULL;
	return s ? s->id : FS_KEY_NONE;
}

uint32_t fs_keymap_intern_aux(struct fs_keymap *m, const void *key, size_t len, int64_t **aux)
{
	uint32_t id = fs_keymap_intern(m, key, len);

	*aux = &find_slot(m, key, len)->aux;
	return id;
}

/*
 * Slot arrays of a large map are probed at random: back them with huge
 * pages where the kernel offers them, or TLB misses dominate lookups.
 */
static struct slot *alloc_slots(size_t n)
{
	size_t bytes = n * sizeof(struct slot);
	void *p;

	if (bytes < (2u << 20))
		return xmalloc(bytes);
	if (posix_memalign(&p, 2u << 20, bytes))
		return xmalloc(bytes);
	madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

static void grow(struct fs_keymap *m)
{
	size_t nmask = m->mask * 2 + 1, i;
	struct slot *ns = alloc_slots(nmask + 1);

	for (i = 0; i <= nmask; i++)
		ns[i].id = FS_KEY_NONE;
	for (i = 0; i <= m->mask; i++) {
		size_t j, len;
		const void *key;
		if (m->slots[i].id == FS_KEY_NONE)
			continue;
		key = fs_keymap_key(m, m->slots[i].id, &len);
		for (j = hash_bytes(key, len) & nmask; ns[j].id != FS_KEY_NONE; j = (j + 1) & nmask)
			;
		ns[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = ns;
	m->mask = nmask;
}

uint32_t fs_keymap_intern(struct fs_keymap *m, const void *key, size_t len)
{
	uint64_t h = hash_bytes(key, len);
	size_t i = h & m->mask;

	for (;; i = (i + 1) & m->mask) {
		struct slot *s = &m->slots[i];
		if (s->id == FS_KEY_NONE)
			break;
		if (same_key(m, s, key, len))
			return s->id;
	}
	m->slots[i].id = (uint32_t)m->n;
	m->slots[i].len = (uint32_t)len;
	m->slots[i].inline_key = len <= 8 ? small_key(key, len) : 0;
	m->slots[i].aux = 0;
	ALLOC_GROW(m->arena, m->arena_len + len + 1, m->arena_alloc);
	memcpy(m->arena + m->arena_len, key, len);
	m->arena_len += len;
	m->n++;
	ALLOC_GROW(m->off, m->n + 1, m->off_alloc);
	m->off[m->n] = m->arena_len;
	if (m->n * 2 > m->mask)
		grow(m);
	return (uint32_t)(m->n - 1);
}

size_t fs_keymap_size(const struct fs_keymap *m)
{
	return m->n;
}

const void *fs_keymap_key(const struct fs_keymap *m, uint32_t id, size_t *len)
{
	*len = m->off[id + 1] - m->off[id];
	return m->arena + m->off[id];
}
