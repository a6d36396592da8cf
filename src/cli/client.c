/*
 * The CLI side of the control socket: blocking I/O with poll() deadlines,
 * fine for a short-lived command.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "core/xmalloc.h"
#include "node/config.h"
#include "wire/ctl.h"

#define CLIENT_BUF (CTL_LINE_MAX * 64) /* share.ls can be large */

const char *
client_socket_path(const char *flag)
{
	static char *def;
	const char *env = getenv("WARREN_SOCKET");

	if (flag != NULL)
		return flag;
	if (env != NULL && env[0] != '\0')
		return env;
	if (def == NULL)
		def = config_default_socket();
	return def;
}

int
client_open(struct client *c, const char *path)
{
	struct sockaddr_un sun;
	json_t *hello;
	int proto;

	memset(c, 0, sizeof(*c));
	c->path = path;
	c->next_id = 1;
	c->fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		cli_err("control socket path too long: %s", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		cli_err("cannot reach the node at %s: %s (is 'warren node' "
			"running? use --socket or $WARREN_SOCKET for another "
			"node)",
		    path, strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->buf = xmalloc(CLIENT_BUF);
	hello = client_recv(c, 10000);
	if (hello == NULL) {
		client_close(c);
		return -1;
	}
	proto = (int)json_integer_value(json_object_get(hello, "proto"));
	json_decref(hello);
	if (proto != CTL_PROTO) {
		cli_err("the node at %s speaks control protocol %d, this "
			"warren speaks %d: use the same version",
		    path, proto, CTL_PROTO);
		client_close(c);
		return -1;
	}
	return 0;
}

void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

int
client_send(struct client *c, json_t *req)
{
	char *text;
	size_t len, off = 0;
	int id = c->next_id++;

	json_object_set_new(req, "id", json_integer(id));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	len = strlen(text);
	text = xrealloc(text, len + 1);
	text[len++] = '\n';
	while (off < len) {
		ssize_t n = write(c->fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_err("lost the node at %s: %s", c->path,
			    strerror(errno));
			free(text);
			return -1;
		}
		off += (size_t)n;
	}
	free(text);
	return id;
}

json_t *
client_recv(struct client *c, int timeout_ms)
{
	for (;;) {
		int n = ctl_line_next(c->buf, c->len, CLIENT_BUF);
		struct pollfd pfd = {c->fd, POLLIN, 0};
		ssize_t got;

		if (n < 0) {
			cli_err("the node sent a line that is too long");
			return NULL;
		}
		if (n > 0) {
			json_error_t jerr;
			json_t *o = json_loadb(c->buf, (size_t)n - 1, 0, &jerr);

			memmove(c->buf, c->buf + n, c->len - (size_t)n);
			c->len -= (size_t)n;
			if (o == NULL) {
				cli_err(
				    "the node sent bad JSON: %s", jerr.text);
				return NULL;
			}
			return o;
		}
		n = poll(&pfd, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			cli_err("no answer from the node at %s within %d s",
			    c->path, timeout_ms / 1000);
			return NULL;
		}
		got = read(c->fd, c->buf + c->len, CLIENT_BUF - c->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			cli_err("the node at %s closed the connection%s",
			    c->path, got < 0 ? "" : " (did it stop?)");
			return NULL;
		}
		c->len += (size_t)got;
	}
}

json_t *
client_call(struct client *c, json_t *req, int timeout_ms)
{
	int id = client_send(c, req);

	if (id < 0)
		return NULL;
	for (;;) {
		json_t *o = client_recv(c, timeout_ms);

		if (o == NULL)
			return NULL;
		if (json_integer_value(json_object_get(o, "id")) == id &&
		    json_is_true(json_object_get(o, "done")))
			return o;
		json_decref(o);
	}
}
