/*
 * warren get MD5|N [--from HOST:PORT ...]: ask the node to download a file
 * (by MD5, or result N of the last 'warren search') and follow it to the
 * end with a progress bar (on a terminal).
 */
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/addr.h"

/*
 * Resolve "HOST:PORT" or "[V6]:PORT" here, in the short-lived CLI, so the
 * node never blocks on DNS. IPv4 addresses come first (course.md §2.4).
 */
static json_t *
get_resolve(const char *spec)
{
	char host[256];
	const char *port, *end;
	struct addrinfo hints, *res, *ai;
	json_t *addrs, *src;
	size_t hlen;
	int rc;

	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (end == NULL || end[1] != ':')
			return NULL;
		hlen = (size_t)(end - spec - 1);
		spec++;
		port = end + 2;
	} else {
		end = strrchr(spec, ':');
		if (end == NULL || strchr(spec, ':') != end)
			return NULL;
		hlen = (size_t)(end - spec);
		port = end + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || port[0] == '\0')
		return NULL;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		cli_err("cannot resolve %s: %s", host, gai_strerror(rc));
		return json_null();
	}
	addrs = json_array();
	for (int fam = 0; fam < 2; fam++) {
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			char a[ADDR_STRLEN];

			if (ai->ai_family != (fam == 0 ? AF_INET : AF_INET6) ||
			    json_array_size(addrs) == 4)
				continue;
			addr_format(ai->ai_addr, a, sizeof(a));
			json_array_append_new(addrs, json_string(a));
		}
	}
	freeaddrinfo(res);
	src = json_object();
	json_object_set_new(src, "addrs", addrs);
	return src;
}

json_t *
cmd_get_next(struct client *cl, int id, int json, int timeout_ms)
{
	json_t *o;

	while ((o = client_recv(cl, timeout_ms)) != NULL &&
	    json_integer_value(json_object_get(o, "id")) != id)
		json_decref(o);
	if (o != NULL && json) {
		char *t = json_dumps(o, JSON_COMPACT);

		printf("%s\n", t);
		fflush(stdout);
		free(t);
	}
	return o;
}

static int
get_follow(
    struct client *cl, int id, int json, int tty, int background, int wait)
{
	int rc = CLI_FAIL;

	for (;;) {
		json_t *o = cmd_get_next(cl, id, json, -1), *d;

		if (o == NULL)
			return CLI_FAIL;
		d = json_object_get(o, "download");
		if (d == NULL)
			d = json_object_get(
			    json_object_get(o, "result"), "download");
		if (!json && tty && d != NULL)
			progress_draw(stdout,
			    json_string_value(json_object_get(d, "name")),
			    (uint64_t)json_integer_value(
				json_object_get(d, "bytes")),
			    (uint64_t)json_integer_value(
				json_object_get(d, "size")),
			    json_is_true(json_object_get(d, "size_known")),
			    json_real_value(json_object_get(d, "rate")),
			    (unsigned)json_integer_value(
				json_object_get(d, "active_sources")),
			    (unsigned)json_integer_value(
				json_object_get(d, "sources")),
			    json_string_value(json_object_get(d, "state")));
		if (!wait && d != NULL &&
		    !json_is_true(json_object_get(o, "done")) &&
		    strcmp(json_string_value(json_object_get(d, "state")),
			"waiting") == 0) {
			long long did = json_integer_value(
			    json_object_get(d, "id"));

			if (!json && tty)
				progress_end(stdout);
			cli_err("no source works now (%s); the node keeps "
				"retrying download %lld in the background: "
				"'warren downloads' to follow, 'warren cancel "
				"%lld' to stop it, or --wait to wait here",
			    json_string_value(
				json_object_get(d, "waiting_for")),
			    did, did);
			json_decref(o);
			return CLI_FAIL;
		}
		if (json_is_true(json_object_get(o, "done"))) {
			if (!json && tty)
				progress_end(stdout);
			if (json_is_true(json_object_get(o, "ok"))) {
				if (!json && background) {
					printf("download %lld started: %s\n",
					    (long long)json_integer_value(
						json_object_get(d, "id")),
					    json_string_value(
						json_object_get(d, "path")));
				} else if (!json) {
					char size[32];

					fmt_bytes(
					    (uint64_t)json_integer_value(
						json_object_get(d, "size")),
					    size, sizeof(size));
					printf("saved %s (%s, MD5 verified)\n",
					    json_string_value(
						json_object_get(d, "path")),
					    size);
				}
				rc = CLI_OK;
			} else if (!json) {
				cli_err("download failed: %s",
				    json_string_value(
					json_object_get(o, "error")));
			}
			json_decref(o);
			return rc;
		}
		json_decref(o);
	}
}

/*
 * "warren get N" (1 to 5 digits; an MD5 has 32): result N of the last
 * search. Adds its holders to from and returns the saved result, whose
 * "md5" and "name" the caller reads and then decrefs; NULL when arg is
 * not a result number, or json_null() after printing why there is no
 * such result.
 */
static json_t *
get_search_result(const char *arg, json_t *from)
{
	size_t len = strlen(arg);
	json_t *r;

	if (len == 0 || len > 5 || strspn(arg, "0123456789") != len)
		return NULL;
	r = cmd_search_result(strtoul(arg, NULL, 10));
	if (r == NULL)
		return json_null();
	json_array_extend(from, json_object_get(r, "sources"));
	return r;
}

int
cmd_get(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"name", required_argument, NULL, 'n'},
	    {"background", no_argument, NULL, 'b'},
	    {"wait", no_argument, NULL, 'w'},
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *self = cli_find("get");
	const char *socket = NULL, *name = NULL, *md5;
	char dir[PATH_MAX];
	int c, json = 0, background = 0, wait = 0, id, rc = CLI_FAIL;
	json_t *from = json_array(), *result = NULL, *req;
	struct client cl;

	dir[0] = '\0';
	optind = 0;
	while ((c = getopt_long(argc, argv, "o:S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': {
			json_t *src = get_resolve(optarg);

			if (src == NULL) {
				rc = cli_usage(self,
				    "--from '%s': expected HOST:PORT or "
				    "[IPV6]:PORT",
				    optarg);
				goto out;
			}
			if (json_is_null(src))
				goto out;
			json_object_set_new(src, "label", json_string(optarg));
			json_array_append_new(from, src);
			break;
		}
		case 'o':
			if (realpath(optarg, dir) == NULL) {
				cli_err("-o %s: no such folder", optarg);
				goto out;
			}
			break;
		case 'n':
			name = optarg;
			break;
		case 'b':
			background = 1;
			break;
		case 'w':
			wait = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'S':
			socket = optarg;
			break;
		case 'h':
			cli_help(stdout, self);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage(self, NULL);
			goto out;
		}
	}
	if (optind != argc - 1) {
		rc = cli_usage(
		    self, "expected one MD5, or the number of a search result");
		goto out;
	}
	md5 = argv[optind];
	result = get_search_result(md5, from);
	if (json_is_null(result))
		goto out;
	if (result != NULL) {
		md5 = json_string_value(json_object_get(result, "md5"));
		if (name == NULL)
			name = json_string_value(
			    json_object_get(result, "name"));
	}
	if (client_open(&cl, client_socket_path(socket)) != 0)
		goto out;
	/* Without a source the node uses those its searches found. */
	req = json_pack("{s:s,s:s?,s:b}", "op", "get", "md5", md5, "background",
	    background);
	if (json_array_size(from) > 0)
		json_object_set(req, "from", from);
	if (name != NULL)
		json_object_set_new(req, "name", json_string(name));
	if (dir[0] != '\0')
		json_object_set_new(req, "dir", json_string(dir));
	id = client_send(&cl, req);
	rc = id < 0
	    ? CLI_FAIL
	    : get_follow(&cl, id, json, isatty(STDOUT_FILENO) && !background,
		  background, wait);
	client_close(&cl);
out:
	json_decref(result);
	json_decref(from);
	return rc;
}
