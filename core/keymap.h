/*
 * keymap.h: interning of entity keys: byte strings to dense ids 0, 1, 2...
 * (open addressing, keys copied into one arena). Lookups of keys not in the
 * map cost one hash and a probe, which is what filtering a large feature
 * source against a small entity set needs.
 */
#ifndef FS_KEYMAP_H
#define FS_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

#define FS_KEY_NONE UINT32_MAX

struct fs_keymap;

struct fs_keymap *fs_keymap_new(void);
void fs_keymap_free(struct fs_keymap *m);
/* The id of key, adding it when absent. */
uint32_t fs_keymap_intern(struct fs_keymap *m, const void *key, size_t len);
/* The id of key, or FS_KEY_NONE. */
uint32_t fs_keymap_find(const struct fs_keymap *m, const void *key, size_t len);
/*
 * The same, with *aux pointing at a 64-bit value kept in the key's own slot
 * (0 for a new key; valid until the next intern): what a caller checks for
 * every row lives on the cache line the lookup already brought in.
 */
uint32_t fs_keymap_find_aux(struct fs_keymap *m, const void *key, size_t len, int64_t **aux);
uint32_t fs_keymap_intern_aux(struct fs_keymap *m, const void *key, size_t len, int64_t **aux);
/*
 * Start bringing in the slot where key's lookup begins: call it a row
 * ahead of fs_keymap_find*() on a map too large for the cache.
 */
void fs_keymap_prefetch(const struct fs_keymap *m, const void *key, size_t len);
size_t fs_keymap_size(const struct fs_keymap *m);
/* The bytes of key id (valid until the next intern). */
const void *fs_keymap_key(const struct fs_keymap *m, uint32_t id, size_t *len);

#endif
