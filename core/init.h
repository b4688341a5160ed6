/*
 * init.h: creating a feature repository (`fs init`): a git repository,
 * fs.yaml, example definitions, small deterministic sample data sets whose
 * timestamps end at the hour of creation (hourly statistics, and trips for
 * the windowed features), .gitignore, and a first commit.
 */
#ifndef FS_INIT_H
#define FS_INIT_H

#include <stdint.h>

#include "gitrepo.h"

/*
 * Create the repository in dir (made if missing) at time now. FS_EEXISTS
 * when dir already holds fs.yaml, FS_EIDENT when there is no identity to
 * commit with (fs_git_ident_check); then nothing is written. commit_out
 * gets the first commit's id.
 */
int fs_init_repo(const char *dir, int64_t now, char commit_out[FS_OID_HEXSZ + 1]);
/* The sample CSV for time now (exposed for tests). Caller frees. */
char *fs_init_sample_csv(int64_t now);
/* The sample trips CSV (events of the aggregation view) for time now. Caller frees. */
char *fs_init_sample_trips_csv(int64_t now);

#endif
