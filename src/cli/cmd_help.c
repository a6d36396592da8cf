/*
 * warren help [COMMAND]
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "directory/directory.h"
#include "introducer/introducer.h"
#include "node/config.h"

void
cli_help(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f,
	    "NAME\n    warren %s - %s\n\nSYNOPSIS\n    %s\n\nDESCRIPTION\n",
	    cmd->name, cmd->summary, cmd->usage);
	for (const char *p = cmd->help; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		fprintf(f, len ? "    %.*s\n" : "\n", (int)len, p);
		p += len + (nl != NULL);
	}
	if (strcmp(cmd->name, "node") == 0) {
		for (const struct config_section *sec = config_sections;
		     sec->name != NULL; sec++) {
			int node = strcmp(sec->name, "node") == 0;

			fprintf(f,
			    "\n%s SETTINGS (name = value in [%s], or flag "
			    "--%s%sname-with-dashes)\n",
			    sec->name, sec->name, node ? "" : sec->name,
			    node ? "" : "-");
			for (int l = 0; sec->lists[l] != NULL; l++)
				for (const struct config_key *k = sec->lists[l];
				     k->name; k++)
					fprintf(f, "    %-21s %-10s %s\n",
					    k->name, k->arg, k->help);
			if (node)
				fprintf(f, "    %-21s %-10s %s\n", "config",
				    "FILE", "INI file to read (flag only)");
		}
	}
	if (strcmp(cmd->name, "directory") == 0) {
		fprintf(f,
		    "\nSETTINGS (name = value in [directory], or flag "
		    "--name-with-dashes)\n");
		for (const struct config_key *k = directory_config_keys;
		     k->name; k++)
			fprintf(f, "    %-21s %-10s %s\n", k->name, k->arg,
			    k->help);
	}
	if (strcmp(cmd->name, "introducer") == 0) {
		fprintf(f,
		    "\nSETTINGS (name = value in [introducer], or flag "
		    "--name-with-dashes)\n");
		for (const struct config_key *k = introducer_config_keys;
		     k->name; k++)
			fprintf(f, "    %-21s %-10s %s\n", k->name, k->arg,
			    k->help);
	}
	fprintf(f, "\nEXIT STATUS\n    0 success, 1 failure, 2 usage error.\n");
}

static json_t *
help_json(const struct cli_cmd *c)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "name", c->name, "summary",
	    c->summary, "usage", c->usage, "help", c->help);
}

int
cmd_help(int argc, char **argv)
{
	const struct cli_cmd *cmd = NULL;
	const char *name = NULL;
	int json = 0;
	json_t *out;
	char *t;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			name = name ? name : "help";
		else if (name == NULL && argv[i][0] != '-')
			name = argv[i];
		else
			return cli_usage(cli_find("help"),
			    "unexpected argument '%s'", argv[i]);
	}
	if (name != NULL && (cmd = cli_find(name)) == NULL) {
		cli_err("no command '%s' (try 'warren help')", name);
		return CLI_USAGE;
	}
	if (!json) {
		if (cmd != NULL) {
			cli_help(stdout, cmd);
			return CLI_OK;
		}
		printf("usage: warren COMMAND [ARGS]\n\nCommands:\n");
		for (cmd = cli_cmds; cmd->name != NULL; cmd++)
			printf("  %-10s %s\n", cmd->name, cmd->summary);
		return CLI_OK;
	}
	if (cmd != NULL)
		out = help_json(cmd);
	else {
		out = json_array();
		for (cmd = cli_cmds; cmd->name != NULL; cmd++)
			json_array_append_new(out, help_json(cmd));
	}
	t = json_dumps(out, JSON_INDENT(2));
	printf("%s\n", t);
	free(t);
	json_decref(out);
	return CLI_OK;
}
