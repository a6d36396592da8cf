/*
 * warren downloads: the node's downloads.
 */
#include "cli.h"

int
cmd_downloads(int argc, char **argv)
{
	const struct cli_cmd *self = cli_find("downloads");
	const char *socket;
	int json, first, rc;
	json_t *r, *d;
	size_t i;

	if ((rc = cli_common_opts(argc, argv, self, &json, &socket, &first)) >=
	    0)
		return rc;
	if (first != argc)
		return cli_usage(self, "unexpected argument '%s'", argv[first]);
	r = cli_simple_call(socket, "downloads", json);
	if (r == NULL)
		return CLI_FAIL;
	if (!json) {
		printf("%4s %-10s %10s %10s %11s  %-24s %s\n", "ID", "STATE",
		    "DONE", "SIZE", "SPEED", "SOURCE", "NAME");
		json_array_foreach(json_object_get(r, "downloads"), i, d)
		{
			char done[32], size[32], rate[32];

			fmt_bytes((uint64_t)json_integer_value(
				      json_object_get(d, "bytes")),
			    done, sizeof(done));
			fmt_bytes((uint64_t)json_integer_value(
				      json_object_get(d, "size")),
			    size, sizeof(size));
			fmt_bytes((uint64_t)json_real_value(
				      json_object_get(d, "rate")),
			    rate, sizeof(rate));
			printf("%4lld %-10s %10s %10s %9s/s  %-24s %s\n",
			    (long long)json_integer_value(
				json_object_get(d, "id")),
			    json_string_value(json_object_get(d, "state")),
			    done, size, rate,
			    json_string_value(json_object_get(d, "source")),
			    json_string_value(json_object_get(d, "name")));
			if (json_object_get(d, "error") != NULL)
				printf("     error: %s\n",
				    json_string_value(
					json_object_get(d, "error")));
		}
	}
	json_decref(r);
	return CLI_OK;
}
