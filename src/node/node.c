/*
 * The node daemon: builds every module from the configuration, runs the
 * loop, and tears everything down in order on SIGINT/SIGTERM or "stop".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/path.h"
#include "core/xmalloc.h"
#include "ctl.h"
#include "known.h"
#include "net/request.h"
#include "overlay/overlay.h"
#include "node.h"
#include "store/db.h"
#include "store/dlstate.h"
#include "store/library.h"
#include "transfer/download.h"
#include "transfer/upload.h"
#include "warren/error.h"

static int
node_num(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || (*end != '\0' && *end != ',') || v < 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * WARREN_TEST_FAULTS=corrupt_part=N,close_after=BYTES,stall: test-only
 * misbehaviour of the upload server. Refused unless every listening address
 * is a loopback address, so it cannot be switched on by accident for a
 * node that real peers reach.
 */
static int
node_faults(struct node *n, struct upload_faults *f)
{
	const char *env = getenv("WARREN_TEST_FAULTS");
	const char *p;

	f->corrupt_part = -1;
	f->close_after = -1;
	f->stall = 0;
	if (env == NULL || env[0] == '\0')
		return 0;
	for (unsigned i = 0; i < n->cfg->nlisten; i++) {
		if (!addr_is_loopback((struct sockaddr *)&n->cfg->listen[i])) {
			log_error("WARREN_TEST_FAULTS is set but the node "
				  "listens on a non-loopback address: refusing "
				  "to start (unset it)");
			return -1;
		}
	}
	for (p = env; *p != '\0';) {
		if (strncmp(p, "corrupt_part=", 13) == 0) {
			if (node_num(p + 13, &f->corrupt_part) != 0)
				goto bad;
		} else if (strncmp(p, "close_after=", 12) == 0) {
			if (node_num(p + 12, &f->close_after) != 0)
				goto bad;
		} else if (strncmp(p, "stall", 5) == 0 &&
		    (p[5] == '\0' || p[5] == ',')) {
			f->stall = 1;
		} else {
			goto bad;
		}
		p = strchr(p, ',');
		if (p == NULL)
			break;
		p++;
	}
	snprintf(n->faults_text, sizeof(n->faults_text), "%s", env);
	log_warn("TEST FAULTS ACTIVE: %s", env);
	return 0;
bad:
	log_error("WARREN_TEST_FAULTS: cannot parse '%s' (expected "
		  "corrupt_part=N, close_after=BYTES, stall)",
	    env);
	return -1;
}

static void
node_download_event(void *arg, struct download *d, enum download_event ev)
{
	struct node *n = arg;

	if (ev == DOWNLOAD_EV_DONE) {
		struct download_info in;

		download_info(d, &in);
		/* If it landed in the shared folder, share it now. */
		library_touch(n->lib, in.path);
		for (unsigned i = 0; i < n->nov; i++)
			if (n->ov[i].ops->downloaded != NULL)
				n->ov[i].ops->downloaded(n->ov[i].o, in.md5);
	}
	ctl_download_event(n->ctl, d, ev);
}

static void
node_on_transfer(void *arg, struct conn *c, const struct course_msg *m)
{
	struct node *n = arg;

	upload_handle(n->up, c, m);
}

static void
node_signal(uv_signal_t *s, int signum)
{
	struct node *n = s->data;

	log_info("signal %d: stopping", signum);
	node_stop(n);
}

static void
node_library_closed(void *arg)
{
	struct node *n = arg;

	n->lib = NULL;
	db_close(n->db);
	n->db = NULL;
	dlstate_close(n->dlstate);
	n->dlstate = NULL;
}

void
node_stop(struct node *n)
{
	if (n->stopping)
		return;
	n->stopping = 1;
	uv_close((uv_handle_t *)&n->sigint, NULL);
	uv_close((uv_handle_t *)&n->sigterm, NULL);
	/* Clients first: their searches end before the overlays do. */
	ctl_server_free(n->ctl);
	n->ctl = NULL;
	while (n->nov > 0) {
		struct node_overlay *ov = &n->ov[--n->nov];

		ov->ops->stop(ov->o);
		request_server_free(ov->rs);
	}
	known_free(n->known);
	n->known = NULL;
	request_server_free(n->rs);
	n->rs = NULL;
	upload_free(n->up);
	n->up = NULL;
	downloader_free(n->dl);
	n->dl = NULL;
	if (n->lib != NULL)
		library_close(n->lib, node_library_closed, n);
	else
		node_library_closed(n);
}

static int
node_listen(struct node *n)
{
	char a[ADDR_STRLEN];
	int err;

	for (unsigned i = 0; i < n->cfg->nlisten; i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&n->cfg->listen[i];

		addr_format(sa, a, sizeof(a));
		err = request_server_listen(n->rs, sa);
		if (err != 0) {
			log_error("cannot listen on %s: %s%s", a,
			    uv_strerror(err),
			    err == UV_EADDRINUSE
				? " (another program uses that port: pick "
				  "another with --listen)"
				: "");
			return -1;
		}
		/* Outgoing connections leave from the node's own address. */
		if (!addr_is_any(sa) && sa->sa_family == AF_INET &&
		    !n->has_bind4) {
			memcpy(&n->bind4, sa, sizeof(struct sockaddr_in));
			n->has_bind4 = 1;
		} else if (!addr_is_any(sa) && sa->sa_family == AF_INET6 &&
		    !n->has_bind6) {
			memcpy(&n->bind6, sa, sizeof(struct sockaddr_in6));
			n->has_bind6 = 1;
		}
		addr_format(request_server_addr(n->rs, i), a, sizeof(a));
		log_info("serving on %s", a);
	}
	return 0;
}

/* This host's first non-loopback address of family, for a wildcard. */
static int
node_host_addr(int family, struct sockaddr_storage *out)
{
	uv_interface_address_t *ifs;
	int count, found = 0;

	if (uv_interface_addresses(&ifs, &count) != 0)
		return 0;
	for (int i = 0; i < count && !found; i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&ifs[i].address;

		if (ifs[i].is_internal || sa->sa_family != family)
			continue;
		/* Link-local IPv6 needs a scope peers do not know. */
		if (family == AF_INET6 &&
		    IN6_IS_ADDR_LINKLOCAL(
			&((const struct sockaddr_in6 *)sa)->sin6_addr))
			continue;
		memcpy(out, sa, addr_len(sa));
		found = 1;
	}
	uv_free_interface_addresses(ifs, count);
	return found;
}

/*
 * The IPP2P and main port this node advertises (course.md §2.4): the
 * configured advertise addresses, else the listen addresses, else (for a
 * wildcard) this host's addresses.
 */
static int
node_advertise(struct node *n)
{
	struct sockaddr_storage v4, v6;
	int has4 = 0, has6 = 0, any = 0, rc;
	const struct sockaddr *main_sa = request_server_addr(n->rs, 0);
	char text[COURSE_IPP2P_LEN + 1];

	if (n->has_bind4) {
		v4 = n->bind4;
		has4 = 1;
	}
	if (n->has_bind6) {
		v6 = n->bind6;
		has6 = 1;
	}
	for (unsigned i = 0; request_server_addr(n->rs, i) != NULL; i++)
		if (addr_is_any(request_server_addr(n->rs, i)))
			any = 1;
	if (n->cfg->has_advertise4) {
		v4 = n->cfg->advertise4;
		has4 = 1;
	}
	if (n->cfg->has_advertise6) {
		v6 = n->cfg->advertise6;
		has6 = 1;
	}
	if (!has4 && !has6 && any) {
		has4 = node_host_addr(AF_INET, &v4);
		has6 = node_host_addr(AF_INET6, &v6);
		if (!has4 && !has6) {
			addr_parse("127.0.0.1", 1, &v4);
			has4 = 1;
			log_warn("no network address found: advertising "
				 "127.0.0.1 (set --advertise ADDR)");
		}
	}
	rc = course_peer_from_sockaddr(has4 ? (struct sockaddr *)&v4 : NULL,
	    has6 ? (struct sockaddr *)&v6 : NULL, addr_port(main_sa), &n->self);
	n->adv4 = v4;
	n->adv6 = v6;
	n->has_adv4 = has4;
	n->has_adv6 = has6;
	if (rc != 0) {
		log_error("cannot build the advertised address (set "
			  "--advertise ADDR)");
		return -1;
	}
	if (!has4 &&
	    !(has6 &&
		IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&v6)->sin6_addr)))
		log_warn("no IPv4 address to advertise: peers that pick IPv4 "
			 "will fail to reach this node (course.md §2.4)");
	course_ipp2p_format(&n->self, text);
	text[COURSE_IPP2P_LEN] = '\0';
	log_info("advertising %s", text);
	return 0;
}

/* A request server for an overlay's own port(s), serving transfers too. */
static struct request_server *
node_overlay_port(struct node *n, int ov)
{
	struct request_server *rs = request_server_new(
	    n->loop, n->cfg->request_timeout_ms, (int)n->cfg->max_conns);
	char a[ADDR_STRLEN];

	request_server_on(rs, COURSE_RETR, node_on_transfer, n);
	request_server_on(rs, COURSE_RETP, node_on_transfer, n);
	request_server_on(rs, COURSE_HASH, node_on_transfer, n);
	for (unsigned i = 0; i < n->cfg->ovlisten[ov].n; i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&n->cfg->ovlisten[ov].addrs[i];
		int err = request_server_listen(rs, sa);

		addr_format(sa, a, sizeof(a));
		if (err != 0) {
			log_error("%s: cannot listen on %s: %s",
			    config_ov_names[ov], a, uv_strerror(err));
			request_server_free(rs);
			return NULL;
		}
		addr_format(request_server_addr(rs, i), a, sizeof(a));
		log_info("%s: serving on %s", config_ov_names[ov], a);
	}
	return rs;
}

static const struct overlay_ops *const node_ov_ops[CONFIG_OV_COUNT] = {
    &gnutella_ops,
    &kazaa_ops,
    &napster_ops,
    &chord_ops,
};

static void
node_library_event(
    void *arg, enum library_event ev, const struct library_file *f)
{
	struct node *n = arg;

	for (unsigned i = 0; i < n->nov; i++) {
		const struct overlay_ops *ops = n->ov[i].ops;

		if (ev == LIBRARY_ADDED && ops->publish != NULL)
			ops->publish(n->ov[i].o, f);
		else if (ev == LIBRARY_REMOVED && ops->unpublish != NULL)
			ops->unpublish(n->ov[i].o, f);
	}
}

static int
node_join(struct node *n)
{
	struct overlay_env env;
	const void *conf[CONFIG_OV_COUNT] = {&n->cfg->gnutella, &n->cfg->kazaa,
	    &n->cfg->napster, &n->cfg->chord};
	int main_used = 0;

	if (n->cfg->overlays == 0)
		return 0;
	if (node_advertise(n) != 0)
		return -1;
	memset(&env, 0, sizeof(env));
	env.loop = n->loop;
	env.lib = n->lib;
	env.data_dir = n->cfg->data_dir;
	env.dial.timeout_ms = n->cfg->connect_timeout_ms;
	env.dial.bind4 = n->has_bind4 ? (struct sockaddr *)&n->bind4 : NULL;
	env.dial.bind6 = n->has_bind6 ? (struct sockaddr *)&n->bind6 : NULL;
	for (int i = 0; i < CONFIG_OV_COUNT; i++) {
		struct node_overlay *ov = &n->ov[n->nov];

		if (!(n->cfg->overlays & (1u << i)))
			continue;
		memset(ov, 0, sizeof(*ov));
		ov->ops = node_ov_ops[i];
		/* napster over a beer2beer index: the same overlay. */
		if (i == CONFIG_OV_NAPSTER && n->cfg->napster.has_b2b)
			ov->ops = &napster_b2b_ops;
		if (i == CONFIG_OV_CHORD) {
			/* Its ring port is its own (chord.md); files are
			 * served on the main port, as for every overlay. */
			env.rs = n->rs;
		} else if (n->cfg->ovlisten[i].n > 0) {
			ov->rs = node_overlay_port(n, i);
			if (ov->rs == NULL)
				return -1;
			env.rs = ov->rs;
		} else if (!main_used) {
			env.rs = n->rs;
			main_used = 1;
		} else {
			/* A port serves one role of one variant (§7). */
			log_error("%s needs a port of its own: another overlay "
				  "uses the main port (set --%s-listen "
				  "ADDR:PORT)",
			    config_ov_names[i], config_ov_names[i]);
			return -1;
		}
		if (course_peer_from_sockaddr(
			n->has_adv4 ? (struct sockaddr *)&n->adv4 : NULL,
			n->has_adv6 ? (struct sockaddr *)&n->adv6 : NULL,
			addr_port(request_server_addr(env.rs, 0)),
			&env.self) != 0)
			return -1;
		if (ov->ops->start(&env, conf[i], &ov->o) != 0) {
			request_server_free(ov->rs);
			return -1;
		}
		n->nov++;
	}
	library_subscribe(n->lib, node_library_event, n);
	return 0;
}

static int
node_start(struct node *n)
{
	struct library_opts lo;
	struct upload_opts uo;
	struct download_opts dopt;
	char *dbpath, *sockdir, *slash;
	int err;

	/* First: a Ctrl-C or SIGTERM during start-up stops cleanly. */
	uv_signal_start(&n->sigint, node_signal, SIGINT);
	uv_signal_start(&n->sigterm, node_signal, SIGTERM);
	if ((err = path_mkdirs(n->cfg->data_dir, 0755, 0700)) != 0 ||
	    (err = path_mkdirs(n->cfg->share_dir, 0755, 0755)) != 0 ||
	    (err = path_mkdirs(n->cfg->download_dir, 0755, 0755)) != 0) {
		log_error("cannot create folders (%s, %s, %s): %s",
		    n->cfg->data_dir, n->cfg->share_dir, n->cfg->download_dir,
		    strerror(-err));
		return -1;
	}
	sockdir = xstrdup(n->cfg->socket_path);
	slash = strrchr(sockdir, '/');
	if (slash != NULL && slash != sockdir) {
		*slash = '\0';
		path_mkdirs(sockdir, 0755, 0700);
	}
	free(sockdir);

	memset(&uo, 0, sizeof(uo));
	if (node_faults(n, &uo.faults) != 0)
		return -1;

	dbpath = xasprintf("%s/node.db", n->cfg->data_dir);
	err = db_open(dbpath, &n->db);
	free(dbpath);
	if (err != 0)
		return -1;

	memset(&lo, 0, sizeof(lo));
	lo.dir = n->cfg->share_dir;
	lo.rescan_ms = n->cfg->rescan_ms;
	lo.hash_jobs = n->cfg->hash_jobs;
	n->lib = library_new(n->loop, n->db, &lo);
	if (n->lib == NULL)
		return -1;

	uo.slots = n->cfg->upload_slots;
	uo.queue_max = n->cfg->upload_queue;
	uo.queue_timeout_ms = n->cfg->upload_queue_timeout_ms;
	uo.rate = n->cfg->upload_rate;
	uo.chunk = n->cfg->chunk_size;
	uo.idle_ms = n->cfg->idle_timeout_ms;
	n->up = upload_new(n->loop, n->lib, &uo);

	n->rs = request_server_new(
	    n->loop, n->cfg->request_timeout_ms, (int)n->cfg->max_conns);
	request_server_on(n->rs, COURSE_RETR, node_on_transfer, n);
	request_server_on(n->rs, COURSE_RETP, node_on_transfer, n);
	request_server_on(n->rs, COURSE_HASH, node_on_transfer, n);
	if (node_listen(n) != 0)
		return -1;

	memset(&dopt, 0, sizeof(dopt));
	dopt.dial.timeout_ms = n->cfg->connect_timeout_ms;
	dopt.dial.bind4 = n->has_bind4 ? (struct sockaddr *)&n->bind4 : NULL;
	dopt.dial.bind6 = n->has_bind6 ? (struct sockaddr *)&n->bind6 : NULL;
	dopt.idle_ms = n->cfg->idle_timeout_ms;
	dopt.per_source = n->cfg->parts_per_source;
	dopt.max_parts = n->cfg->parts_in_flight;
	dopt.retry_min_ms = n->cfg->retry_min_ms;
	dopt.retry_max_ms = n->cfg->retry_max_ms;
	dopt.rate = n->cfg->download_rate;
	dbpath = xasprintf("%s/node.db", n->cfg->data_dir);
	n->dlstate = dlstate_open(dbpath);
	free(dbpath);
	if (n->dlstate == NULL)
		return -1;
	dopt.state = n->dlstate;
	n->dl = downloader_new(n->loop, &dopt);
	downloader_set_cb(n->dl, node_download_event, n);

	n->known = known_new(1024, 3600 * 1000);
	if (node_join(n) != 0)
		return -1;

	n->ctl = ctl_server_new(n, n->cfg->socket_path);
	if (n->ctl == NULL)
		return -1;

	if (library_start(n->lib) != 0)
		return -1;
	if (downloader_restore(n->dl) > 0)
		log_info("resumed unfinished downloads");

	log_info("sharing %s; downloads to %s; control socket %s",
	    n->cfg->share_dir, n->cfg->download_dir, n->cfg->socket_path);
	return 0;
}

static void
node_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int
node_run(struct node_config *cfg)
{
	struct node n;
	uv_loop_t loop;

	memset(&n, 0, sizeof(n));
	/* Hashing, uploads and downloads share the pool: make room. */
	setenv("UV_THREADPOOL_SIZE", "8", 0);
	log_set_level(cfg->log_level);
	uv_loop_init(&loop);
	n.loop = &loop;
	n.cfg = cfg;
	n.started_ms = uv_now(&loop);
	uv_signal_init(&loop, &n.sigint);
	uv_signal_init(&loop, &n.sigterm);
	n.sigint.data = n.sigterm.data = &n;

	if (node_start(&n) != 0) {
		n.exit_code = 1;
		node_stop(&n);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	/* Anything a module forgot: close it so the loop can end. */
	uv_walk(&loop, node_walk_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		log_warn("event loop closed with handles still open");
	if (n.exit_code == 0)
		log_info("stopped");
	return n.exit_code;
}
