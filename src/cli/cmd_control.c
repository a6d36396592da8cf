/*
 * warren pause|resume|cancel ID: act on one download of the node.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int
control(int argc, char **argv, const char *op)
{
	const struct cli_cmd *self = cli_find(op);
	const char *socket;
	int json, first, rc;
	struct client cl;
	json_t *reply;
	char *end;
	long long id;

	if ((rc = cli_common_opts(argc, argv, self, &json, &socket, &first)) >=
	    0)
		return rc;
	if (first != argc - 1)
		return cli_usage(self, "expected one download id");
	errno = 0;
	id = strtoll(argv[first], &end, 10);
	if (errno != 0 || *end != '\0' || id <= 0)
		return cli_usage(self,
		    "'%s' is not a download id (see 'warren "
		    "downloads')",
		    argv[first]);
	if (client_open(&cl, client_socket_path(socket)) != 0)
		return CLI_FAIL;
	reply = client_call(&cl,
	    json_pack("{s:s,s:I}", "op", op, "download", (json_int_t)id),
	    30000);
	client_close(&cl);
	if (reply == NULL)
		return CLI_FAIL;
	if (json) {
		char *t = json_dumps(reply, JSON_COMPACT);

		printf("%s\n", t);
		free(t);
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (!json)
			cli_err("%s",
			    json_string_value(json_object_get(reply, "error")));
		json_decref(reply);
		return CLI_FAIL;
	}
	if (!json)
		printf("download %lld: %s\n", id,
		    json_string_value(json_object_get(
			json_object_get(
			    json_object_get(reply, "result"), "download"),
			"state")));
	json_decref(reply);
	return CLI_OK;
}

int
cmd_pause(int argc, char **argv)
{
	return control(argc, argv, "pause");
}

int
cmd_resume(int argc, char **argv)
{
	return control(argc, argv, "resume");
}

int
cmd_cancel(int argc, char **argv)
{
	return control(argc, argv, "cancel");
}
