/*
 * Node configuration: defaults, INI file (inih), flags, validation.
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core/addr.h"
#include "core/conf.h"
#include "core/path.h"
#include "core/xmalloc.h"

const struct config_key config_keys[] = {
    {"listen", "ADDR:PORT",
	"address and port of the main port (repeatable; default [::]:3000, "
	"dual-stack)"},
    {"share", "DIR", "shared folder (default $XDG_DATA_HOME/warren/shared)"},
    {"download_dir", "DIR", "where downloads are saved (default: share)"},
    {"data_dir", "DIR", "node state: node.db (default $XDG_DATA_HOME/warren)"},
    {"socket", "PATH",
	"control socket (default $XDG_RUNTIME_DIR/warren/node.sock)"},
    {"upload_slots", "N",
	"concurrent uploads, beyond: the upload queue (default 16)"},
    {"upload_queue", "N",
	"requests waiting for an upload slot, beyond: Busy; 0 = no queue "
	"(default 32)"},
    {"upload_queue_timeout", "SECONDS",
	"longest wait in the upload queue, then Busy; under 30 (default 20)"},
    {"upload_rate", "BYTES",
	"total upload rate per second, suffix K, M or G (KiB, MiB, GiB); "
	"0 = unlimited, else at least 16K (default 0)"},
    {"chunk_size", "BYTES", "Lenchunk of ARET/AREP, 512-99999 (default 4096)"},
    {"max_connections", "N",
	"simultaneous inbound connections per port "
	"(default 128)"},
    {"rescan_interval", "SECONDS",
	"periodic rescan of the shared folder "
	"(default 60)"},
    {"request_timeout", "SECONDS", "accept to full request (default 10)"},
    {"idle_timeout", "SECONDS", "transfer idle deadline (default 30)"},
    {"connect_timeout", "SECONDS", "per address (default 5)"},
    {"download_rate", "BYTES",
	"global download rate, bytes/s with K/M/G suffixes (default 0: "
	"unlimited)"},
    {"parts_per_source", "N",
	"RETP requests in flight per source "
	"(default 2)"},
    {"parts_in_flight", "N",
	"RETP requests in flight per download "
	"(default 8)"},
    {"retry_min", "SECONDS",
	"first retry delay for a failed source "
	"(default 1; doubles up to retry_max)"},
    {"retry_max", "SECONDS", "longest retry delay (default 60)"},
    {"hash_jobs", "N", "files hashed in parallel (default: CPU count)"},
    {"log_level", "LEVEL", "error, warn, info or debug (default info)"},
    {"overlay", "NAME",
	"join an overlay: gnutella, kazaa, napster, chord (repeatable, or a "
	"comma-separated list)"},
    {"advertise", "ADDR",
	"address peers should connect to (repeatable: one IPv4, one IPv6; "
	"default: the listen address, or this host's first non-loopback "
	"address when listening on a wildcard)"},
    {"neighbour", "HOST:PORT",
	"a Gnutella neighbour (repeatable; same as --gnutella-neighbour)"},
    {"directory", "HOST:PORT",
	"the napster directory (same as --napster-directory)"},
    {"directory_b2b", "HOST:PORT",
	"a beer2beer napster directory (same as --napster-directory-b2b)"},
    {"user", "NAME", "beer2beer user name (same as --napster-user)"},
    {"password_file", "PATH",
	"beer2beer password file, mode 600 (same as "
	"--napster-password-file)"},
    {NULL, NULL, NULL},
};

/* Keys every overlay section has. */
static const struct config_key config_overlay_keys[] = {
    {"listen", "ADDR:PORT",
	"this overlay's own port (repeatable; default: the node's main port, "
	"which only one overlay may use)"},
    {NULL, NULL, NULL},
};

const char *const config_ov_names[CONFIG_OV_COUNT] = {
    "gnutella", "kazaa", "napster", "chord"};

const struct config_section config_sections[] = {
    {"node", {config_keys, NULL}},
    {"gnutella",
	{gnutella_config_keys, config_overlay_keys, flood_config_keys, NULL}},
    {"kazaa",
	{kazaa_config_keys, config_overlay_keys, flood_config_keys, NULL}},
    {"napster", {napster_config_keys, config_overlay_keys, NULL}},
    {"chord", {chord_config_keys, NULL}},
    {NULL, {NULL}},
};

static int
config_overlay(
    struct node_config *cfg, const char *value, char *err, size_t errlen)
{
	char *list = xstrdup(value), *save = NULL, *name;
	int rc = 0;

	for (name = strtok_r(list, ", ", &save); name != NULL;
	     name = strtok_r(NULL, ", ", &save)) {
		int i;

		for (i = 0; i < CONFIG_OV_COUNT; i++)
			if (strcmp(name, config_ov_names[i]) == 0)
				break;
		if (i < CONFIG_OV_COUNT) {
			cfg->overlays |= 1u << i;
		} else if (strcmp(name, "none") == 0) {
			cfg->overlays = 0;
		} else {
			snprintf(err, errlen,
			    "overlay: '%s' is not an overlay this node can "
			    "join (gnutella, kazaa, napster, chord)",
			    name);
			rc = -1;
			break;
		}
	}
	free(list);
	return rc;
}

static int
config_advertise(
    struct node_config *cfg, const char *value, char *err, size_t errlen)
{
	struct sockaddr_storage ss;

	if (addr_parse(value, 1, &ss) != 0 ||
	    addr_is_any((struct sockaddr *)&ss)) {
		snprintf(err, errlen,
		    "advertise: '%s' is not an IPv4 or IPv6 address", value);
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		cfg->advertise4 = ss;
		cfg->has_advertise4 = 1;
	} else {
		cfg->advertise6 = ss;
		cfg->has_advertise6 = 1;
	}
	return 0;
}

static char *
config_xdg(const char *var, const char *fallback, const char *leaf)
{
	const char *v = getenv(var);
	const char *home = getenv("HOME");

	if (v != NULL && v[0] == '/')
		return xasprintf("%s/warren%s", v, leaf);
	return xasprintf(
	    "%s/%s/warren%s", home ? home : "/tmp", fallback, leaf);
}

char *
config_default_socket(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");

	if (rt != NULL && rt[0] == '/')
		return xasprintf("%s/warren/node.sock", rt);
	return xasprintf("/tmp/warren-%u/node.sock", (unsigned)getuid());
}

void
config_defaults(struct node_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->share_dir = config_xdg("XDG_DATA_HOME", ".local/share", "/shared");
	cfg->data_dir = config_xdg("XDG_DATA_HOME", ".local/share", "");
	cfg->socket_path = config_default_socket();
	addr_parse("[::]:3000", 0, &cfg->listen[0]);
	cfg->nlisten = 1;
	cfg->upload_slots = 16;
	cfg->upload_queue = 32;
	cfg->upload_queue_timeout_ms = 20000;
	cfg->chunk_size = 4096;
	cfg->max_conns = 128;
	cfg->rescan_ms = 60000;
	cfg->request_timeout_ms = 10000;
	cfg->idle_timeout_ms = 30000;
	cfg->connect_timeout_ms = 5000;
	cfg->parts_per_source = 2;
	cfg->parts_in_flight = 8;
	cfg->retry_min_ms = 1000;
	cfg->retry_max_ms = 60000;
	cfg->log_level = LOG_LEVEL_INFO;
	gnutella_config_defaults(&cfg->gnutella);
	kazaa_config_defaults(&cfg->kazaa);
	napster_config_defaults(&cfg->napster);
	chord_config_defaults(&cfg->chord);
}

static void
config_setstr(char **slot, const char *value)
{
	free(*slot);
	*slot = xstrdup(value);
}

int
config_set(struct node_config *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	unsigned long v;
	char k[64];

	/* Flags spell keys with '-', the file with '_': accept both. */
	conf_key_norm(key, k, sizeof(k));
	for (int i = 0; i < CONFIG_OV_COUNT; i++) {
		size_t nl = strlen(config_ov_names[i]);

		if (i == CONFIG_OV_CHORD)
			continue; /* its listen is its ring port */
		if (strncmp(k, config_ov_names[i], nl) != 0 ||
		    strcmp(k + nl, "_listen") != 0)
			continue;
		if (cfg->ovlisten[i].n == CONFIG_MAX_LISTEN ||
		    addr_parse(value, 0,
			&cfg->ovlisten[i].addrs[cfg->ovlisten[i].n]) != 0) {
			snprintf(err, errlen,
			    "%s: '%s' is not ADDR:PORT (at most %d)", k, value,
			    CONFIG_MAX_LISTEN);
			return -1;
		}
		cfg->ovlisten[i].n++;
		return 0;
	}
	if (strncmp(k, "napster_", 8) == 0 || strcmp(k, "directory") == 0 ||
	    strcmp(k, "directory_b2b") == 0 || strcmp(k, "user") == 0 ||
	    strcmp(k, "password_file") == 0) {
		int rc = napster_config_set(&cfg->napster,
		    strncmp(k, "napster_", 8) == 0 ? k + 8 : k, value, err,
		    errlen);

		if (rc > 0)
			snprintf(err, errlen, "unknown setting '%s'", key);
		return rc == 0 ? 0 : -1;
	}
	if (strncmp(k, "chord_", 6) == 0) {
		int rc = chord_config_set(
		    &cfg->chord, k + 6, value, err, errlen);

		if (rc > 0)
			snprintf(err, errlen, "unknown setting '%s'", key);
		return rc == 0 ? 0 : -1;
	}
	if (strncmp(k, "kazaa_", 6) == 0) {
		int rc = kazaa_config_set(
		    &cfg->kazaa, k + 6, value, err, errlen);

		if (rc > 0)
			snprintf(err, errlen, "unknown setting '%s'", key);
		return rc == 0 ? 0 : -1;
	}
	if (strncmp(k, "gnutella_", 9) == 0 || strcmp(k, "neighbour") == 0 ||
	    strcmp(k, "neighbor") == 0) {
		int rc = gnutella_config_set(&cfg->gnutella,
		    k[0] == 'g' ? k + 9 : k, value, err, errlen);

		if (rc > 0)
			snprintf(err, errlen, "unknown setting '%s'", key);
		return rc == 0 ? 0 : -1;
	}
	if (strcmp(k, "overlay") == 0 || strcmp(k, "overlays") == 0)
		return config_overlay(cfg, value, err, errlen);
	if (strcmp(k, "advertise") == 0)
		return config_advertise(cfg, value, err, errlen);

	if (strcmp(k, "listen") == 0) {
		if (cfg->nlisten == CONFIG_MAX_LISTEN) {
			snprintf(err, errlen, "listen: at most %d addresses",
			    CONFIG_MAX_LISTEN);
			return -1;
		}
		if (addr_parse(value, 0, &cfg->listen[cfg->nlisten]) != 0) {
			snprintf(err, errlen,
			    "listen: '%s' is not ADDR:PORT (e.g. "
			    "127.0.0.2:4000 or [::1]:4000)",
			    value);
			return -1;
		}
		cfg->nlisten++;
	} else if (strcmp(k, "share") == 0 || strcmp(k, "share_dir") == 0) {
		config_setstr(&cfg->share_dir, value);
	} else if (strcmp(k, "download_dir") == 0) {
		config_setstr(&cfg->download_dir, value);
	} else if (strcmp(k, "data_dir") == 0) {
		config_setstr(&cfg->data_dir, value);
	} else if (strcmp(k, "socket") == 0) {
		config_setstr(&cfg->socket_path, value);
	} else if (strcmp(k, "upload_slots") == 0) {
		if (conf_uint(value, 1, 4096, &v) != 0)
			goto bad_range;
		cfg->upload_slots = (unsigned)v;
	} else if (strcmp(k, "upload_queue") == 0) {
		if (conf_uint(value, 0, 4096, &v) != 0)
			goto bad_range;
		cfg->upload_queue = (unsigned)v;
	} else if (strcmp(k, "upload_queue_timeout") == 0) {
		uint64_t ms;

		/* A waiting downloader hears nothing until its slot comes:
		 * answer Busy before its 30 s idle deadline (course.md §8). */
		if (conf_seconds(value, &ms) != 0 || ms >= 30000) {
			snprintf(err, errlen,
			    "%s: '%s' is not a number of seconds above 0 and "
			    "under 30 (peers give up after 30 s of silence)",
			    k, value);
			return -1;
		}
		cfg->upload_queue_timeout_ms = ms;
	} else if (strcmp(k, "upload_rate") == 0) {
		uint64_t rate;

		if (conf_bytes(value, &rate) != 0 ||
		    (rate != 0 && rate < 16384)) {
			snprintf(err, errlen,
			    "%s: '%s' is not a rate in bytes per second: 0 "
			    "(unlimited) or at least 16K, suffix K, M or G "
			    "(e.g. 500K, 2M)",
			    k, value);
			return -1;
		}
		cfg->upload_rate = rate;
	} else if (strcmp(k, "chunk_size") == 0) {
		if (conf_uint(value, 512, 99999, &v) != 0)
			goto bad_range;
		cfg->chunk_size = (unsigned)v;
	} else if (strcmp(k, "max_connections") == 0) {
		if (conf_uint(value, 1, 16384, &v) != 0)
			goto bad_range;
		cfg->max_conns = (unsigned)v;
	} else if (strcmp(k, "download_rate") == 0) {
		if (conf_bytes(value, &cfg->download_rate) != 0)
			goto bad_range;
	} else if (strcmp(k, "parts_per_source") == 0) {
		if (conf_uint(value, 1, 64, &v) != 0)
			goto bad_range;
		cfg->parts_per_source = (unsigned)v;
	} else if (strcmp(k, "parts_in_flight") == 0) {
		if (conf_uint(value, 1, 256, &v) != 0)
			goto bad_range;
		cfg->parts_in_flight = (unsigned)v;
	} else if (strcmp(k, "retry_min") == 0) {
		if (conf_seconds(value, &cfg->retry_min_ms) != 0)
			goto bad_seconds;
	} else if (strcmp(k, "retry_max") == 0) {
		if (conf_seconds(value, &cfg->retry_max_ms) != 0)
			goto bad_seconds;
	} else if (strcmp(k, "hash_jobs") == 0) {
		if (conf_uint(value, 1, 64, &v) != 0)
			goto bad_range;
		cfg->hash_jobs = (unsigned)v;
	} else if (strcmp(k, "rescan_interval") == 0) {
		if (conf_seconds(value, &cfg->rescan_ms) != 0)
			goto bad_seconds;
	} else if (strcmp(k, "request_timeout") == 0) {
		if (conf_seconds(value, &cfg->request_timeout_ms) != 0)
			goto bad_seconds;
	} else if (strcmp(k, "idle_timeout") == 0) {
		if (conf_seconds(value, &cfg->idle_timeout_ms) != 0)
			goto bad_seconds;
	} else if (strcmp(k, "connect_timeout") == 0) {
		if (conf_seconds(value, &cfg->connect_timeout_ms) != 0)
			goto bad_seconds;
	} else if (strcmp(k, "log_level") == 0) {
		if (log_parse_level(value, &cfg->log_level) != 0) {
			snprintf(err, errlen,
			    "log_level: '%s' is not error, warn, info or debug",
			    value);
			return -1;
		}
	} else {
		snprintf(err, errlen, "unknown setting '%s'", key);
		return -1;
	}
	return 0;
bad_range:
	snprintf(err, errlen, "%s: '%s' is not a number in the allowed range",
	    k, value);
	return -1;
bad_seconds:
	snprintf(err, errlen, "%s: '%s' is not a positive number of seconds", k,
	    value);
	return -1;
}

struct config_load_ctx {
	struct node_config *cfg;
	char *err;
	size_t errlen;
	int failed;
	int listen_reset;
};

static int
config_ini_handler(
    void *user, const char *section, const char *name, const char *value)
{
	struct config_load_ctx *ctx = user;
	char msg[256];

	char key[128];

	if (strcmp(section, "node") != 0) {
		/* [gnutella] min_neighbours = 3 is gnutella_min_neighbours. */
		snprintf(key, sizeof(key), "%s_%s", section, name);
		name = key;
	}
	if (strcmp(name, "listen") == 0 && !ctx->listen_reset) {
		/* The file's list replaces the default. */
		ctx->cfg->nlisten = 0;
		ctx->listen_reset = 1;
	}
	if (config_set(ctx->cfg, name, value, msg, sizeof(msg)) != 0) {
		if (!ctx->failed)
			snprintf(ctx->err, ctx->errlen, "%s", msg);
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

int
config_load(struct node_config *cfg, const char *path, char *err, size_t errlen)
{
	struct config_load_ctx ctx = {cfg, err, errlen, 0, 0};
	char msg[256];
	int rc;

	msg[0] = '\0';
	ctx.err = msg;
	ctx.errlen = sizeof(msg);
	rc = ini_parse(path, config_ini_handler, &ctx);
	if (rc == -1) {
		snprintf(err, errlen, "cannot read config file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s line %d: %s", path, rc,
		    msg[0] ? msg : "syntax error");
		return -1;
	}
	return 0;
}

static int
config_absolute(char **slot, const char *what, char *err, size_t errlen)
{
	if (path_absolute(slot) != 0) {
		snprintf(err, errlen, "%s: cannot resolve relative path", what);
		return -1;
	}
	return 0;
}

int
config_finish(struct node_config *cfg, char *err, size_t errlen)
{
	if (cfg->download_dir == NULL)
		cfg->download_dir = xstrdup(cfg->share_dir);
	if (config_absolute(&cfg->share_dir, "share", err, errlen) != 0 ||
	    config_absolute(&cfg->download_dir, "download_dir", err, errlen) !=
		0 ||
	    config_absolute(&cfg->data_dir, "data_dir", err, errlen) != 0 ||
	    config_absolute(&cfg->socket_path, "socket", err, errlen) != 0)
		return -1;
	if (cfg->nlisten == 0) {
		snprintf(err, errlen, "no listen address");
		return -1;
	}
	return 0;
}

void
config_release(struct node_config *cfg)
{
	free(cfg->share_dir);
	free(cfg->download_dir);
	free(cfg->data_dir);
	free(cfg->socket_path);
	memset(cfg, 0, sizeof(*cfg));
}
