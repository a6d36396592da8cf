/*
 * warren share ls: the shared files. warren share add: copy or hard-link
 * files into the node's shared folder (control op share.add), which the
 * node then hashes and publishes on every overlay it has joined.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int
share_ls(const char *socket, int json)
{
	json_t *r, *f;
	size_t i;

	r = cli_simple_call(socket, "share.ls", json);
	if (r == NULL)
		return CLI_FAIL;
	if (!json) {
		json_t *files = json_object_get(r, "files");

		printf("%-32s %10s  %s\n", "MD5", "SIZE", "NAME");
		json_array_foreach(files, i, f)
		{
			char size[32];

			fmt_bytes((uint64_t)json_integer_value(
				      json_object_get(f, "size")),
			    size, sizeof(size));
			printf("%s %10s %s%s\n",
			    json_string_value(json_object_get(f, "md5")), size,
			    json_is_true(json_object_get(f, "name_too_long"))
				? "!"
				: " ",
			    json_string_value(json_object_get(f, "name")));
		}
		printf("%zu files in %s%s\n", json_array_size(files),
		    json_string_value(json_object_get(r, "dir")),
		    json_is_true(json_object_get(r, "ready"))
			? ""
			: " (still scanning)");
	}
	json_decref(r);
	return CLI_OK;
}

/* With --json, one line per FILE: {"file", "ok", "result" | "error"}. */
static void
share_add_json(const char *file, json_t *reply, const char *error)
{
	json_t *o = reply != NULL ? json_deep_copy(reply) : json_object();
	char *t;

	json_object_del(o, "id");
	json_object_del(o, "done");
	json_object_set_new(o, "file", json_string(file));
	if (reply == NULL) {
		json_object_set_new(o, "ok", json_false());
		json_object_set_new(o, "error", json_string(error));
	}
	t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%s\n", t);
	fflush(stdout);
	free(t);
	json_decref(o);
}

/* One FILE: 0 when the node shares it, -1 when not, -2 when the node is
 * lost (error printed). */
static int
share_add_one(
    struct client *cl, const char *file, const char *name, int link, int json)
{
	char path[PATH_MAX], msg[PATH_MAX + 64], size[32];
	json_t *req, *reply, *r;
	const char *md5;

	if (realpath(file, path) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			snprintf(msg, sizeof(msg), "no such file: %s", file);
		else
			snprintf(msg, sizeof(msg), "cannot use %s: %s", file,
			    strerror(errno));
		cli_err("%s", msg);
		if (json)
			share_add_json(file, NULL, msg);
		return -1;
	}
	req = json_pack("{s:s,s:s,s:s}", "op", "share.add", "path", path,
	    "mode", link ? "link" : "copy");
	if (name != NULL)
		json_object_set_new(req, "name", json_string(name));
	/* No deadline here: the node bounds its wait for the hash, and a
	 * copy takes as long as the disks take. */
	reply = client_call(cl, req, -1);
	if (reply == NULL) {
		if (json)
			share_add_json(file, NULL, "lost the node");
		return -2;
	}
	if (json)
		share_add_json(file, reply, NULL);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		cli_err(
		    "%s", json_string_value(json_object_get(reply, "error")));
		json_decref(reply);
		return -1;
	}
	r = json_object_get(reply, "result");
	if (!json) {
		fmt_bytes(
		    (uint64_t)json_integer_value(json_object_get(r, "size")),
		    size, sizeof(size));
		md5 = json_string_value(json_object_get(r, "md5"));
		printf("shared %s (%s, %s)%s\n",
		    json_string_value(json_object_get(r, "name")),
		    md5 != NULL ? md5 : "MD5 not known yet", size,
		    strcmp(json_string_value(json_object_get(r, "mode")),
			"in_place") == 0
			? ": already in the shared folder"
			: "");
		if (md5 == NULL)
			printf("  %s\n",
			    json_string_value(json_object_get(r, "note")));
	}
	json_decref(reply);
	return 0;
}

static int
share_add(const struct cli_cmd *self, const char *socket, int json, int link,
    const char *name, int argc, char **argv)
{
	struct client cl;
	int c, rc = CLI_OK, lost = 0;

	if (argc == 0)
		return cli_usage(self, "share add: expected a FILE to share");
	if (name != NULL && argc > 1)
		return cli_usage(self,
		    "share add: --name names one FILE, and %d were given",
		    argc);
	if (client_open(&cl, client_socket_path(socket)) != 0)
		return CLI_FAIL;
	for (int i = 0; i < argc; i++) {
		if (lost) {
			cli_err("not shared: %s (lost the node)", argv[i]);
			if (json)
				share_add_json(argv[i], NULL, "lost the node");
			continue;
		}
		c = share_add_one(&cl, argv[i], name, link, json);
		if (c != 0)
			rc = CLI_FAIL;
		lost = c == -2;
	}
	client_close(&cl);
	return rc;
}

int
cmd_share(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {"link", no_argument, NULL, 'l'},
	    {"name", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *self = cli_find("share");
	const char *socket = NULL, *name = NULL;
	int c, json = 0, link = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'S':
			socket = optarg;
			break;
		case 'h':
			cli_help(stdout, self);
			return CLI_OK;
		case 'l':
			link = 1;
			break;
		case 'n':
			name = optarg;
			break;
		default:
			return cli_usage(self, NULL);
		}
	}
	if (optind >= argc)
		return cli_usage(self, "expected a subcommand: ls or add");
	if (strcmp(argv[optind], "add") == 0)
		return share_add(self, socket, json, link, name,
		    argc - optind - 1, argv + optind + 1);
	if (strcmp(argv[optind], "ls") != 0)
		return cli_usage(self,
		    "unknown subcommand '%s' (this version has: ls, add)",
		    argv[optind]);
	if (link || name != NULL)
		return cli_usage(
		    self, "share ls: --link and --name are options of add");
	if (optind + 1 != argc)
		return cli_usage(
		    self, "unexpected argument '%s'", argv[optind + 1]);
	return share_ls(socket, json);
}
