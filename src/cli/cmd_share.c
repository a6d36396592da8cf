/*
 * warren share ls: the shared files.
 */
#include <string.h>

#include "cli.h"

int
cmd_share(int argc, char **argv)
{
	const struct cli_cmd *self = cli_find("share");
	const char *socket;
	int json, first, rc;
	json_t *r, *f;
	size_t i;

	if ((rc = cli_common_opts(argc, argv, self, &json, &socket, &first)) >=
	    0)
		return rc;
	if (first >= argc)
		return cli_usage(self, "expected a subcommand: ls");
	if (strcmp(argv[first], "ls") != 0)
		return cli_usage(self,
		    "unknown subcommand '%s' (this version "
		    "has: ls)",
		    argv[first]);
	if (first + 1 != argc)
		return cli_usage(
		    self, "unexpected argument '%s'", argv[first + 1]);
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
