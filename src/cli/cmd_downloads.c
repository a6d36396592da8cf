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
	json_t *r, *d, *s;
	size_t i, j;

	if ((rc = cli_common_opts(argc, argv, self, &json, &socket, &first)) >=
	    0)
		return rc;
	if (first != argc)
		return cli_usage(self, "unexpected argument '%s'", argv[first]);
	r = cli_simple_call(socket, "downloads", json);
	if (r == NULL)
		return CLI_FAIL;
	if (!json) {
		printf("%4s %-10s %10s %10s %11s  %-7s %s\n", "ID", "STATE",
		    "DONE", "SIZE", "SPEED", "SOURCES", "NAME");
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
			printf("%4lld %-10s %10s %10s %9s/s  %3lld/%-3lld %s\n",
			    (long long)json_integer_value(
				json_object_get(d, "id")),
			    json_string_value(json_object_get(d, "state")),
			    done, size, rate,
			    (long long)json_integer_value(
				json_object_get(d, "active_sources")),
			    (long long)json_integer_value(
				json_object_get(d, "sources")),
			    json_string_value(json_object_get(d, "name")));
			if (json_object_get(d, "error") != NULL)
				printf("     error: %s\n",
				    json_string_value(
					json_object_get(d, "error")));
			if (json_object_get(d, "waiting_for") != NULL)
				printf("     waiting: %s (retry in %.1f s)\n",
				    json_string_value(
					json_object_get(d, "waiting_for")),
				    (double)json_integer_value(
					json_object_get(d, "retry_in_ms")) /
					1000.0);
			printf("     parts %lld/%lld, fetched %lld bytes\n",
			    (long long)json_integer_value(
				json_object_get(d, "parts_done")),
			    (long long)json_integer_value(
				json_object_get(d, "parts")),
			    (long long)json_integer_value(
				json_object_get(d, "fetched")));
			json_array_foreach(
			    json_object_get(d, "source_list"), j, s)
			{
				char f[32], sr[32], via[96] = "";
				json_t *ov;
				size_t k, off = 0;

				json_array_foreach(
				    json_object_get(s, "overlays"), k, ov)
				{
					int w = snprintf(via + off,
					    sizeof(via) - off, "%s%s",
					    off ? "," : " via ",
					    json_string_value(ov));

					if (w < 0 ||
					    (size_t)w >= sizeof(via) - off)
						break;
					off += (size_t)w;
				}

				fmt_bytes((uint64_t)json_integer_value(
					      json_object_get(s, "fetched")),
				    f, sizeof(f));
				fmt_bytes((uint64_t)json_real_value(
					      json_object_get(s, "rate")),
				    sr, sizeof(sr));
				printf(
				    "     %-24s %-8s %-7s %9s %9s/s rtt %lld "
				    "ms, parts %lld ok %lld bad%s %s\n",
				    json_string_value(
					json_object_get(s, "label")),
				    json_string_value(
					json_object_get(s, "state")),
				    json_string_value(
					json_object_get(s, "protocol")),
				    f, sr,
				    (long long)json_integer_value(
					json_object_get(s, "rtt_ms")),
				    (long long)json_integer_value(
					json_object_get(s, "good_parts")),
				    (long long)json_integer_value(
					json_object_get(s, "bad_parts")),
				    via,
				    json_string_value(
					json_object_get(s, "error")));
			}
		}
	}
	json_decref(r);
	return CLI_OK;
}
