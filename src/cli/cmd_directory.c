/*
 * warren directory: run the central directory (course directory protocol
 * and beer2beer) in the foreground.
 */
#include "cli.h"
#include "directory/directory.h"

static int
directory_set(
    void *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	return directory_config_set(cfg, key, value, err, errlen);
}

static int
directory_finish(void *cfg, char *err, size_t errlen)
{
	return directory_config_finish(cfg, err, errlen);
}

static int
directory_run_cfg(void *cfg)
{
	return directory_run(cfg);
}

int
cmd_directory(int argc, char **argv)
{
	struct directory_config cfg;
	struct cli_server s = {"directory", directory_config_keys, &cfg,
	    directory_set, directory_finish, directory_run_cfg};
	int rc;

	directory_config_defaults(&cfg);
	rc = cli_server_main(&s, argc, argv);
	directory_config_release(&cfg);
	return rc;
}
