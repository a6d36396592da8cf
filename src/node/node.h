/*
 * node.h: the warren node daemon: one libuv loop wiring the shared library,
 * the upload server on the main port(s), the download manager and the
 * control socket. A node is a struct, not a global, so tests and labs can
 * run several in one process later.
 */
#ifndef WARREN_NODE_NODE_H
#define WARREN_NODE_NODE_H

#include <uv.h>

#include "config.h"
#include "overlay/overlay.h"
#include "transfer/upload.h"
#include "wire/course.h"

#define NODE_MAX_OVERLAYS 4

struct sqlite3;
struct library;
struct request_server;
struct downloader;
struct dlstate;
struct ctl_server;
struct known;

/* One joined overlay. */
struct node_overlay {
	const struct overlay_ops *ops;
	struct overlay *o;
	struct request_server *rs; /* its own port, or NULL: the main one */
};

struct node {
	uv_loop_t *loop;
	struct node_config *cfg; /* borrowed */
	struct sqlite3 *db;
	struct library *lib;
	struct uploader *up;
	struct request_server *rs;
	struct downloader *dl;
	struct dlstate *dlstate; /* persistent downloads */
	struct ctl_server *ctl;
	struct node_overlay ov[NODE_MAX_OVERLAYS];
	unsigned nov;
	struct course_peer self;            /* advertised IPP2P and main port */
	struct sockaddr_storage adv4, adv6; /* advertised addresses */
	int has_adv4, has_adv6;
	struct known *known; /* sources learned from search hits */
	uv_signal_t sigint, sigterm;
	uint64_t started_ms;           /* uv_now() at start */
	struct sockaddr_storage bind4; /* source address for IPv4, if any */
	struct sockaddr_storage bind6;
	int has_bind4, has_bind6;
	char faults_text[128]; /* active test faults, or "" */
	int stopping;
	int exit_code;
};

/* Run a node until it is stopped; returns the process exit code. */
int node_run(struct node_config *cfg);

/* Begin an orderly stop (signal, control API). */
void node_stop(struct node *n);

#endif
