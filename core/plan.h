/*
 * plan.h: what apply would change, as the difference between the
 * definitions wanted (from YAML) and those registered.
 *
 * Changes come in registry order: kind (entity, source, feature_view,
 * feature_service, model), then name. A change borrows the specs of the two
 * fs_defs it was computed from; keep them alive while the plan is used.
 */
#ifndef FS_PLAN_H
#define FS_PLAN_H

#include <jansson.h>

#include "defs.h"

struct fs_change {
	char op; /* '+', '~', '-' */
	enum fs_kind kind;
	const char *name;
	const json_t *spec;      /* new spec; NULL for '-' */
	const json_t *old;       /* registered spec; NULL for '+' */
	int old_version;         /* 0 for '+' */
	char **fields;           /* '~': the top-level fields that differ */
	size_t nfields;
};

struct fs_plan {
	struct fs_change *items;
	size_t n, alloc;
};

/*
 * Changes from have (registered; specs may be loaded as text) to want.
 * Specs of have are parsed only where they differ.
 */
void fs_plan_compute(struct fs_plan *out, const struct fs_defs *want, struct fs_defs *have);
/* "+feature_view trips, ~entity driver" (shortened past a few items); caller frees. */
char *fs_plan_summary(const struct fs_plan *plan);
/* [{"op": "+", "kind": ..., "name": ..., "fields": [...]}] */
json_t *fs_plan_json(const struct fs_plan *plan);
void fs_plan_release(struct fs_plan *plan);

#endif
