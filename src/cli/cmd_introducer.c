/*
 * warren introducer: run the bootstrap server of the Chord ring (chord.md §2)
 * in the foreground.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/xmalloc.h"
#include "introducer/introducer.h"

#define OPT_CONFIG 1
#define OPT_KEY0   1000

static struct option *
introducer_options(void)
{
	size_t n = 0, i;
	struct option *o;

	while (introducer_config_keys[n].name != NULL)
		n++;
	o = xcalloc(n + 3, sizeof(*o));
	for (i = 0; i < n; i++) {
		char *flag = xstrdup(introducer_config_keys[i].name);

		for (char *p = flag; *p; p++)
			if (*p == '_')
				*p = '-';
		o[i] = (struct option){
		    flag, required_argument, NULL, OPT_KEY0 + (int)i};
	}
	o[i++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
	o[i++] = (struct option){"help", no_argument, NULL, 'h'};
	return o;
}

int
cmd_introducer(int argc, char **argv)
{
	const struct cli_cmd *self = cli_find("introducer");
	struct option *opts = introducer_options();
	struct introducer_config cfg;
	char err[512];
	int c, rc = CLI_OK;

	introducer_config_defaults(&cfg);
	/* Pass 1: the file, so that flags override it. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_help(stdout, self);
			goto out;
		}
		if (c == OPT_CONFIG &&
		    introducer_config_load(&cfg, optarg, err, sizeof(err)) !=
			0) {
			rc = cli_usage(self, "%s", err);
			goto out;
		}
	}
	opterr = 1;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == OPT_CONFIG || c == 'h')
			continue;
		if (c < OPT_KEY0) {
			rc = cli_usage(self, NULL);
			goto out;
		}
		if (introducer_config_set(&cfg,
			introducer_config_keys[c - OPT_KEY0].name, optarg, err,
			sizeof(err)) != 0) {
			rc = cli_usage(self, "%s", err);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage(self, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (introducer_config_finish(&cfg, err, sizeof(err)) != 0) {
		rc = cli_usage(self, "%s", err);
		goto out;
	}
	rc = introducer_run(&cfg);
out:
	for (size_t i = 0; opts[i].name != NULL; i++)
		if (opts[i].val >= OPT_KEY0)
			free((char *)opts[i].name);
	free(opts);
	introducer_config_release(&cfg);
	return rc;
}
