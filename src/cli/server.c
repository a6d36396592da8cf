/*
 * The command line of warren's servers (directory, introducer): their
 * settings as flags, an INI file with --config, --help; then run.
 */
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define OPT_CONFIG 1
#define OPT_JSON   2
#define OPT_KEY0   1000

struct server_ini {
	const struct cli_server *s;
	char msg[256];
};

static int
server_ini_handler(
    void *user, const char *section, const char *name, const char *value)
{
	struct server_ini *ctx = user;

	if (strcmp(section, ctx->s->name) != 0)
		return 1; /* other programs' sections may share the file */
	return ctx->s->set(
		   ctx->s->cfg, name, value, ctx->msg, sizeof(ctx->msg)) == 0;
}

/* The server's [name] section of the INI file at path. */
static int
server_load(
    const struct cli_server *s, const char *path, char *err, size_t errlen)
{
	struct server_ini ctx = {s, ""};
	int rc = ini_parse(path, server_ini_handler, &ctx);

	if (rc == -1) {
		snprintf(err, errlen, "cannot read config file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s line %d: %s", path, rc,
		    ctx.msg[0] ? ctx.msg : "syntax error");
		return -1;
	}
	return 0;
}

static struct option *
server_options(const struct config_key *keys)
{
	size_t n = 0, i;
	struct option *o;

	while (keys[n].name != NULL)
		n++;
	o = xcalloc(n + 4, sizeof(*o));
	for (i = 0; i < n; i++) {
		char *flag = xstrdup(keys[i].name);

		for (char *p = flag; *p; p++)
			if (*p == '_')
				*p = '-';
		o[i] = (struct option){
		    flag, required_argument, NULL, OPT_KEY0 + (int)i};
	}
	o[i++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
	o[i++] = (struct option){"help", no_argument, NULL, 'h'};
	o[i++] = (struct option){"json", no_argument, NULL, OPT_JSON};
	return o;
}

int
cli_server_main(const struct cli_server *s, int argc, char **argv)
{
	const struct cli_cmd *self = cli_find(s->name);
	struct option *opts = server_options(s->keys);
	char err[512];
	int c, rc = CLI_OK;

	/* Pass 1: the file, so that flags override it. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_help(stdout, self);
			goto out;
		}
		if (c == OPT_JSON)
			log_set_json(1);
		if (c == OPT_CONFIG &&
		    server_load(s, optarg, err, sizeof(err)) != 0) {
			rc = cli_usage(self, "%s", err);
			goto out;
		}
	}
	opterr = 1;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == OPT_CONFIG || c == OPT_JSON || c == 'h')
			continue;
		if (c < OPT_KEY0) {
			rc = cli_usage(self, NULL);
			goto out;
		}
		if (s->set(s->cfg, s->keys[c - OPT_KEY0].name, optarg, err,
			sizeof(err)) != 0) {
			rc = cli_usage(self, "%s", err);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage(self, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (s->finish(s->cfg, err, sizeof(err)) != 0) {
		rc = cli_usage(self, "%s", err);
		goto out;
	}
	rc = s->run(s->cfg);
out:
	for (size_t i = 0; opts[i].name != NULL; i++)
		if (opts[i].val >= OPT_KEY0)
			free((char *)opts[i].name);
	free(opts);
	return rc;
}
