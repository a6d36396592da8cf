/*
 * warren node: parse the configuration (file, then flags) and run a node.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "node/config.h"
#include "node/node.h"

#define OPT_CONFIG 1
#define OPT_JSON   2
#define OPT_KEY0   1000

/* Append the flag names of one key list of sec to keys (if not NULL). */
static size_t
node_keys_add(char **keys, size_t i, const struct config_section *sec,
    const struct config_key *list)
{
	for (const struct config_key *k = list; k != NULL && k->name; k++, i++)
		if (keys != NULL)
			keys[i] = strcmp(sec->name, "node") == 0
			    ? xstrdup(k->name)
			    : xasprintf("%s_%s", sec->name, k->name);
	return i;
}

/* The config keys of every section, in option order; NULL-terminated. */
static char **
node_keys(void)
{
	size_t n = 0, i = 0;
	char **keys;
	const struct config_section *sec;

	for (sec = config_sections; sec->name != NULL; sec++)
		for (int l = 0; sec->lists[l] != NULL; l++)
			n = node_keys_add(NULL, n, sec, sec->lists[l]);
	keys = xcalloc(n + 1, sizeof(*keys));
	for (sec = config_sections; sec->name != NULL; sec++)
		for (int l = 0; sec->lists[l] != NULL; l++)
			i = node_keys_add(keys, i, sec, sec->lists[l]);
	return keys;
}

static struct option *
node_options(char **keys)
{
	size_t n = 0, i;
	struct option *o;

	while (keys[n] != NULL)
		n++;
	o = xcalloc(n + 4, sizeof(*o));
	for (i = 0; i < n; i++) {
		char *flag = xstrdup(keys[i]);

		for (char *p = flag; *p; p++)
			if (*p == '_')
				*p = '-';
		o[i].name = flag;
		o[i].has_arg = required_argument;
		o[i].val = OPT_KEY0 + (int)i;
	}
	o[i++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
	o[i++] = (struct option){"help", no_argument, NULL, 'h'};
	o[i++] = (struct option){"json", no_argument, NULL, OPT_JSON};
	return o;
}

static void
node_options_free(struct option *o, char **keys)
{
	for (size_t i = 0; o[i].name != NULL; i++)
		if (o[i].val >= OPT_KEY0)
			free((char *)o[i].name);
	free(o);
	for (size_t i = 0; keys[i] != NULL; i++)
		free(keys[i]);
	free(keys);
}

int
cmd_node(int argc, char **argv)
{
	const struct cli_cmd *self = cli_find("node");
	char **keys = node_keys();
	struct option *opts = node_options(keys);
	struct node_config cfg;
	const char *config = NULL;
	char err[512];
	int c, rc = CLI_OK, listen_seen = 0;

	config_defaults(&cfg);
	/* Pass 1: find --config and --help. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == OPT_CONFIG)
			config = optarg;
		else if (c == OPT_JSON)
			log_set_json(1);
		else if (c == 'h') {
			cli_help(stdout, self);
			goto out;
		}
	}
	if (config != NULL) {
		if (config_load(&cfg, config, err, sizeof(err)) != 0) {
			cli_err("%s", err);
			rc = CLI_USAGE;
			goto out;
		}
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME");
		const char *home = getenv("HOME");
		char *def = xdg && xdg[0] == '/'
		    ? xasprintf("%s/warren/warren.conf", xdg)
		    : xasprintf("%s/.config/warren/warren.conf",
			  home ? home : "/nonexistent");

		if (access(def, R_OK) == 0 &&
		    config_load(&cfg, def, err, sizeof(err)) != 0) {
			cli_err("%s", err);
			free(def);
			rc = CLI_USAGE;
			goto out;
		}
		free(def);
	}
	/* Pass 2: flags override the file. */
	opterr = 1;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == OPT_CONFIG || c == OPT_JSON || c == 'h')
			continue;
		if (c < OPT_KEY0) {
			rc = cli_usage(self, NULL);
			goto out;
		}
		if (strcmp(keys[c - OPT_KEY0], "listen") == 0 && !listen_seen) {
			cfg.nlisten = 0; /* flags replace file and default */
			listen_seen = 1;
		}
		if (config_set(&cfg, keys[c - OPT_KEY0], optarg, err,
			sizeof(err)) != 0) {
			rc = cli_usage(self, "%s", err);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage(self, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (config_finish(&cfg, err, sizeof(err)) != 0) {
		rc = cli_usage(self, "%s", err);
		goto out;
	}
	rc = node_run(&cfg);
out:
	config_release(&cfg);
	node_options_free(opts, keys);
	return rc;
}
