/*
 * warren stop: stop the node cleanly.
 */
#include "cli.h"

int
cmd_stop(int argc, char **argv)
{
	const struct cli_cmd *self = cli_find("stop");
	const char *socket;
	int json, first, rc;
	json_t *r;

	if ((rc = cli_common_opts(argc, argv, self, &json, &socket, &first)) >=
	    0)
		return rc;
	if (first != argc)
		return cli_usage(self, "unexpected argument '%s'", argv[first]);
	r = cli_simple_call(socket, "stop", json);
	if (r == NULL)
		return CLI_FAIL;
	json_decref(r);
	return CLI_OK;
}
