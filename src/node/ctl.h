/*
 * ctl.h: the node's control socket (DESIGN.md "Control API"): JSON lines
 * over a Unix socket created mode 0600. Each request is an object with an
 * "id" and an "op"; replies carry the same id. Long operations stream
 * {"id":..,"event":..} objects and end with {"id":..,"done":true,...}.
 */
#ifndef WARREN_NODE_CTL_H
#define WARREN_NODE_CTL_H

#include "transfer/download.h"

struct node;
struct ctl_server;

/* Listen on path. Refuses (with a message) if a live node owns it; a stale
 * socket file is replaced. Returns NULL on error (logged). */
struct ctl_server *ctl_server_new(struct node *n, const char *path);

/* Forward a download event to the clients that follow that download. */
void ctl_download_event(
    struct ctl_server *s, struct download *d, enum download_event ev);

/* Close the socket and every client; unlink the socket file. */
void ctl_server_free(struct ctl_server *s);

#endif
