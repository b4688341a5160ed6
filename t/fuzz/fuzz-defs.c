/*
 * libFuzzer target: definitions and fs.yaml from arbitrary bytes. The
 * loader must report problems, never crash, leak or hang.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address -Db_lundef=false
 *   ninja -C build-fuzz t/fuzz/fuzz-defs && build-fuzz/t/fuzz/fuzz-defs t/fuzz/corpus-defs
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "defs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fs_defs defs = { 0 };
	struct fs_diags diags = { 0 };
	struct fs_data_access access = { "/nonexistent-fuzz-root", NULL, NULL, NULL, false };
	struct fs_config *cfg = NULL;

	fs_defs_parse(&defs, "fuzz.yaml", (const char *)data, size, &diags);
	fs_defs_validate(&defs, &access, &diags);
	fs_defs_release(&defs);
	fs_diags_release(&diags);

	if (!fs_config_parse(&cfg, "/nonexistent-fuzz-root", (const char *)data, size, "fs.yaml",
			     &diags))
		fs_config_free(cfg);
	fs_diags_release(&diags);
	return 0;
}
