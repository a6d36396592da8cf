/*
 * warren status: the node on one screen.
 */
#include "cli.h"

static uint64_t
num(json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

int
cmd_status(int argc, char **argv)
{
	const struct cli_cmd *self = cli_find("status");
	const char *socket;
	int json, first, rc;
	json_t *r, *lib, *up, *dls, *v;
	char b1[32], b2[32], up_for[32];
	const char *key;
	size_t i;

	if ((rc = cli_common_opts(argc, argv, self, &json, &socket, &first)) >=
	    0)
		return rc;
	if (first != argc)
		return cli_usage(self, "unexpected argument '%s'", argv[first]);
	r = cli_simple_call(socket, "status", json);
	if (r == NULL)
		return CLI_FAIL;
	if (json) {
		json_decref(r);
		return CLI_OK;
	}
	lib = json_object_get(r, "library");
	up = json_object_get(r, "uploads");
	dls = json_object_get(r, "downloads");
	fmt_duration(
	    (double)num(r, "uptime_ms") / 1000.0, up_for, sizeof(up_for));
	printf("warren node %s (pid %d), up %s\n",
	    json_string_value(json_object_get(r, "version")),
	    (int)num(r, "pid"), up_for);
	json_array_foreach(json_object_get(r, "listen"), i, v)
	    printf("  listening   %s\n", json_string_value(v));
	fmt_bytes(num(lib, "bytes"), b1, sizeof(b1));
	printf("  shared      %s\n",
	    json_string_value(json_object_get(r, "share_dir")));
	printf("              %llu files, %s; hashed %llu, from cache %llu, "
	       "pending %llu%s\n",
	    (unsigned long long)num(lib, "files"), b1,
	    (unsigned long long)num(lib, "hashed_files"),
	    (unsigned long long)num(lib, "cached_files"),
	    (unsigned long long)num(lib, "pending"),
	    json_is_true(json_object_get(lib, "ready")) ? "" : " (scanning)");
	if (num(lib, "name_too_long") > 0)
		printf("              %llu names over 100 bytes (not "
		       "announced)\n",
		    (unsigned long long)num(lib, "name_too_long"));
	fmt_bytes(num(up, "bytes"), b2, sizeof(b2));
	printf("  uploads     %llu active of %llu slots, %llu queued; %llu "
	       "done, %llu failed, %llu busy; %s sent\n",
	    (unsigned long long)num(up, "active"),
	    (unsigned long long)num(up, "slots"),
	    (unsigned long long)num(up, "queued"),
	    (unsigned long long)num(up, "completed"),
	    (unsigned long long)num(up, "failed"),
	    (unsigned long long)num(up, "busy"), b2);
	printf("  downloads  ");
	if (json_object_size(dls) == 0)
		printf(" none");
	json_object_foreach(dls, key, v)
	    printf(" %llu %s", (unsigned long long)json_integer_value(v), key);
	printf("\n  downloads   to %s\n",
	    json_string_value(json_object_get(r, "download_dir")));
	printf("  control     %s\n",
	    json_string_value(json_object_get(r, "socket")));
	if (json_object_get(r, "test_faults") != NULL)
		printf("  TEST FAULTS %s\n",
		    json_string_value(json_object_get(r, "test_faults")));
	json_decref(r);
	return CLI_OK;
}
