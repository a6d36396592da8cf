/*
 * warren introducer: run the bootstrap server of the Chord ring (chord.md §2)
 * in the foreground.
 */
#include "cli.h"
#include "introducer/introducer.h"

static int
introducer_set(
    void *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	return introducer_config_set(cfg, key, value, err, errlen);
}

static int
introducer_finish(void *cfg, char *err, size_t errlen)
{
	return introducer_config_finish(cfg, err, errlen);
}

static int
introducer_run_cfg(void *cfg)
{
	return introducer_run(cfg);
}

int
cmd_introducer(int argc, char **argv)
{
	struct introducer_config cfg;
	struct cli_server s = {"introducer", introducer_config_keys, &cfg,
	    introducer_set, introducer_finish, introducer_run_cfg};
	int rc;

	introducer_config_defaults(&cfg);
	rc = cli_server_main(&s, argc, argv);
	introducer_config_release(&cfg);
	return rc;
}
