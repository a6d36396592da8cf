/*
 * warren peers: the peers the node knows in each overlay it has joined.
 * Overlays keep different fields, so only common columns are shown and a
 * field an overlay does not keep shows as "-".
 */
#include <stdio.h>

#include "cli.h"

/* A field as a cell: a string as it is, an integer in decimal, else "-". */
static const char *
peers_cell(json_t *peer, const char *key, char *buf, size_t cap)
{
	json_t *v = json_object_get(peer, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (!json_is_integer(v))
		return "-";
	snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return buf;
}

/* "last_ok_ms" as "3.2 s ago", "12 min ago", "never" (null) or "-". */
static const char *
peers_last_ok(json_t *peer, char *buf, size_t cap)
{
	json_t *v = json_object_get(peer, "last_ok_ms");
	double s = (double)json_integer_value(v) / 1000.0;

	if (json_is_null(v))
		return "never";
	if (!json_is_integer(v))
		return "-";
	if (s < 60)
		snprintf(buf, cap, "%.1f s ago", s);
	else if (s < 3600)
		snprintf(buf, cap, "%.0f min ago", s / 60);
	else
		snprintf(buf, cap, "%.1f h ago", s / 3600);
	return buf;
}

/* The overlay's name and a table of its peers; a blank line first if
 * another overlay came before. */
static void
peers_print_overlay(json_t *overlay, int blank)
{
	json_t *peers = json_object_get(overlay, "peers"), *p;
	const char *name = json_string_value(json_object_get(overlay, "name"));
	size_t i, n = json_array_size(peers);

	printf("%s%s: %zu peer%s\n", blank ? "\n" : "",
	    name != NULL ? name : "-", n, n == 1 ? "" : "s");
	if (n == 0)
		return;
	printf("  %-23s %-8s %-10s %5s  %-12s %6s\n", "LABEL", "STATE",
	    "ORIGIN", "FAILS", "LAST OK", "SENT");
	json_array_foreach(peers, i, p)
	{
		char b[6][32];

		printf("  %-23s %-8s %-10s %5s  %-12s %6s\n",
		    peers_cell(p, "label", b[0], sizeof(b[0])),
		    peers_cell(p, "state", b[1], sizeof(b[1])),
		    peers_cell(p, "origin", b[2], sizeof(b[2])),
		    peers_cell(p, "fails", b[3], sizeof(b[3])),
		    peers_last_ok(p, b[4], sizeof(b[4])),
		    peers_cell(p, "sent", b[5], sizeof(b[5])));
	}
}

int
cmd_peers(int argc, char **argv)
{
	const struct cli_cmd *self = cli_find("peers");
	const char *socket;
	int json, first, rc;
	json_t *r, *overlays, *o;
	size_t i;

	if ((rc = cli_common_opts(argc, argv, self, &json, &socket, &first)) >=
	    0)
		return rc;
	if (first != argc)
		return cli_usage(self, "unexpected argument '%s'", argv[first]);
	r = cli_simple_call(socket, "peers", json);
	if (r == NULL)
		return CLI_FAIL;
	overlays = json_object_get(r, "overlays");
	if (!json && json_array_size(overlays) == 0)
		printf("this node has joined no overlay\n");
	json_array_foreach(overlays, i, o)
	{
		if (!json)
			peers_print_overlay(o, i > 0);
	}
	json_decref(r);
	return CLI_OK;
}
