/*
 * chord_serve.c: the ring port of a chord node (chord.md §3.3, §5): one
 * request line per connection within the request deadline, one answer,
 * then the server closes. The answers come from chord_serve_answer(),
 * which the node also uses for the requests it sends itself.
 *
 * The port serves files too, as every overlay port of a node does: a
 * connection whose first bytes are RETR, RETP or HASH followed by an MD5
 * digit (no chord op has that shape: an op is followed by a space or the
 * line end) is handed to the node's course request server.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chord_int.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/request.h"
#include "wire/text.h"
#include "warren/error.h"

enum sconn_state {
	SCONN_READING,  /* waiting for the request line */
	SCONN_ANSWERED, /* answer written; the conn closes after it */
};

/* An inbound connection. */
struct chord_sconn {
	struct overlay *o;    /* NULL once the overlay has stopped */
	struct conn *c;       /* freed by conn.c; we learn in sconn_closed */
	uint64_t accepted_ms; /* uv_now() at accept: the line deadline */
	enum sconn_state state;
	struct chord_sconn *prev, *next; /* o->sconns */
};

/* ------------------------------------------------------------ answers */

/* A response under construction in a heap buffer. */
struct resp {
	char *buf;
	struct chord_out out;
};

static void
resp_begin(struct resp *r, size_t lines)
{
	size_t cap = CHORD_STATUS_MAX + lines * CHORD_LINE_MAX;

	r->buf = xmalloc(cap);
	chord_out_begin(&r->out, r->buf, cap);
}

static char *
resp_end(struct resp *r, unsigned code, const char *msg, size_t *len)
{
	int n = chord_out_end(
	    &r->out, code, (struct chord_str){msg, strlen(msg)});

	if (n <= 0) {
		/* Cannot happen with the sizes above; say so rather than
		 * send nothing. */
		n = snprintf(
		    r->buf, CHORD_STATUS_MAX, "500 INTERNAL ERROR 0\r\n");
	}
	*len = (size_t)n;
	return r->buf;
}

static char *
resp_simple(unsigned code, const char *msg, size_t *len)
{
	struct resp r;

	resp_begin(&r, 0);
	return resp_end(&r, code, msg, len);
}

/* a - b mod 2^160. */
static void
id_sub(const struct chord_id *a, const struct chord_id *b, struct chord_id *out)
{
	int borrow = 0;

	for (int i = CHORD_ID_BYTES - 1; i >= 0; i--) {
		int d = (int)a->b[i] - (int)b->b[i] - borrow;

		borrow = d < 0;
		out->b[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

struct cand {
	struct chord_id dist; /* id - node: smaller is closer to id */
	const struct chord_node *n;
};

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return chord_id_cmp(&x->dist, &y->dist);
}

static void
cand_add(struct overlay *o, const struct chord_id *id, struct cand *v,
    unsigned *nv, const struct chord_node *n)
{
	if (chord_is_self(o, n) || chord_is_failed(o, n) ||
	    !chord_id_between(&n->id, &o->self.id, id))
		return;
	/* Fingers repeat in runs: a cheap check catches most repeats. */
	if (*nv > 0 && chord_node_same(v[*nv - 1].n, n))
		return;
	id_sub(id, &n->id, &v[*nv].dist);
	v[*nv].n = n;
	(*nv)++;
}

/* FIND_SUCCESSOR at this node (§3.3 steps 1-4). */
static char *
answer_find(struct overlay *o, const struct chord_id *id, size_t *len)
{
	const struct chord_node *s = chord_successor(o), *ans;
	struct cand v[CHORD_FINGERS + CHORD_SUCC_MAX];
	char line[CHORD_NODE_LINE_MAX];
	unsigned nv = 0, out = 0;
	struct resp r;

	resp_begin(&r, CHORD_NEXT_MAX);
	ans = NULL;
	if (chord_alone(o))
		ans = &o->self; /* step 1 */
	else if (chord_id_between_incl(id, &o->self.id, &s->id))
		ans = s; /* step 2 */
	else if (o->has_pred &&
	    chord_id_between_incl(id, &o->pred.id, &o->self.id))
		ans = &o->self; /* step 3 */
	if (ans != NULL) {
		chord_node_line(ans, line, sizeof(line));
		chord_out_line(&r.out, line, strlen(line));
		return resp_end(&r, 200, "OK", len);
	}
	/* Step 4: closest preceding nodes first. */
	for (unsigned i = CHORD_FINGERS; i-- > 0;)
		if (o->has_finger[i])
			cand_add(o, id, v, &nv, &o->finger[i]);
	for (unsigned i = 0; i < o->nsucc; i++)
		cand_add(o, id, v, &nv, &o->succ[i]);
	qsort(v, nv, sizeof(v[0]), cand_cmp);
	for (unsigned i = 0; i < nv && out < CHORD_NEXT_MAX; i++) {
		if (i > 0 && chord_node_same(v[i].n, v[i - 1].n))
			continue;
		chord_node_line(v[i].n, line, sizeof(line));
		chord_out_line(&r.out, line, strlen(line));
		out++;
	}
	if (out == 0) {
		/* Only a failed successor is left: still never empty. */
		chord_node_line(s, line, sizeof(line));
		chord_out_line(&r.out, line, strlen(line));
	}
	return resp_end(&r, 302, "NEXT", len);
}

static char *
answer_node(const struct chord_node *n, size_t *len)
{
	char line[CHORD_NODE_LINE_MAX];
	struct resp r;

	resp_begin(&r, 1);
	chord_node_line(n, line, sizeof(line));
	chord_out_line(&r.out, line, strlen(line));
	return resp_end(&r, 200, "OK", len);
}

static char *
answer_successors(struct overlay *o, size_t *len)
{
	char line[CHORD_NODE_LINE_MAX];
	unsigned n = o->nsucc < o->cfg.successors ? o->nsucc
						  : o->cfg.successors;
	struct resp r;

	if (n == 0)
		return answer_node(&o->self, len);
	resp_begin(&r, n);
	for (unsigned i = 0; i < n; i++) {
		chord_node_line(&o->succ[i], line, sizeof(line));
		chord_out_line(&r.out, line, strlen(line));
	}
	return resp_end(&r, 200, "OK", len);
}

static char *
answer_put(struct overlay *o, const struct chord_request *req, size_t *len)
{
	struct chord_id key;
	struct chord_record rec;
	struct chord_str tail = chord_request_tail(req, 1);
	int rc;

	if (chord_id_parse(req->args[0].ptr, req->args[0].len, &key) != 0 ||
	    chord_record_parse(tail.ptr, tail.len, &rec) != 0)
		return NULL;
	rc = chord_store_put(
	    o->store, &key, &rec, uv_now(o->env.loop) + o->cfg.record_ttl_ms);
	if (rc == WARREN_ELIMIT) {
		o->n.store_full++;
		return resp_simple(500, "STORAGE FULL", len);
	}
	if (rc < 0)
		return NULL;
	return resp_simple(200, "OK", len);
}

/* "md5 size ip port name" of a stored record. */
static int
record_line(const struct chord_srec *s, char *out, size_t cap)
{
	return snprintf(out, cap, "%s %" PRIu64 " %s %u %s", s->md5, s->size,
	    s->ip, s->port, s->name);
}

static char *
answer_get(struct overlay *o, const struct chord_request *req, size_t *len)
{
	const struct chord_srec *recs[CHORD_GET_MAX];
	char line[CHORD_LINE_MAX];
	struct chord_id key;
	struct resp r;
	size_t n;
	int k;

	if (chord_id_parse(req->args[0].ptr, req->args[0].len, &key) != 0)
		return NULL;
	n = chord_store_get(
	    o->store, &key, uv_now(o->env.loop), recs, CHORD_GET_MAX);
	if (n == 0)
		return resp_simple(404, "NOT FOUND", len);
	resp_begin(&r, n);
	for (size_t i = 0; i < n; i++) {
		k = record_line(recs[i], line, sizeof(line));
		if (k > 0 && (size_t)k < sizeof(line))
			chord_out_line(&r.out, line, (size_t)k);
	}
	return resp_end(&r, 200, "OK", len);
}

/* A page of keyed record lines with key in (lo, hi] after cursor. */
static char *
answer_page(struct overlay *o, const struct chord_id *lo,
    const struct chord_id *hi, const struct chord_str *cursor, size_t *len)
{
	const struct chord_srec *recs[CHORD_PAGE_MAX];
	char line[CHORD_LINE_MAX], key[CHORD_ID_LEN + 1];
	char next[CHORD_CURSOR_MAX + 1];
	struct chord_store_pos pos;
	uint64_t now = uv_now(o->env.loop);
	struct resp r;
	size_t n;
	int more, k, cn;

	if (cursor != NULL &&
	    chord_store_pos_parse(cursor->ptr, cursor->len, &pos) != 0)
		return NULL;
	n = chord_store_range(o->store, lo, hi, cursor != NULL ? &pos : NULL,
	    now, recs, CHORD_PAGE_MAX, &more);
	resp_begin(&r, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t ttl = (recs[i]->expires_ms - now + 999) / 1000;

		chord_id_format(&recs[i]->key, key);
		k = snprintf(line, sizeof(line), "%s %" PRIu64 " ", key,
		    ttl > UINT32_MAX ? (uint64_t)UINT32_MAX : ttl);
		if (k <= 0 || (size_t)k >= sizeof(line))
			continue;
		cn = record_line(recs[i], line + k, sizeof(line) - (size_t)k);
		if (cn > 0 && (size_t)(k + cn) < sizeof(line))
			chord_out_line(&r.out, line, (size_t)(k + cn));
	}
	if (more && n > 0 &&
	    (cn = chord_store_cursor(recs[n - 1], next, sizeof(next))) > 0) {
		k = chord_out_end_more(
		    &r.out, (struct chord_str){next, (size_t)cn});
		if (k > 0) {
			*len = (size_t)k;
			return r.buf;
		}
	}
	return resp_end(&r, 200, "OK", len);
}

char *
chord_serve_answer(
    struct overlay *o, const struct chord_request *req, int local, size_t *len)
{
	struct chord_id a, b;
	struct chord_node n;
	struct chord_str tail;
	char *resp = NULL;

	if (!local)
		o->n.served[req->op < CHORD_OP_COUNT ? req->op : 0]++;
	if (req->op == CHORD_OP_UNKNOWN || req->op == CHORD_OP_JOIN ||
	    req->op == CHORD_OP_DELETE ||
	    !chord_op_argc_ok(req->op, req->nargs)) {
		o->n.bad_requests += !local;
		return resp_simple(400, "BAD REQUEST", len);
	}
	switch (req->op) {
	case CHORD_OP_PING:
		return resp_simple(200, "OK", len);
	case CHORD_OP_FIND_SUCCESSOR:
		if (chord_id_parse(req->args[0].ptr, req->args[0].len, &a) != 0)
			break;
		/* Not yet in a ring: answering "alone" would pull the asker
		 * into a ring of two beside the real one. */
		if (o->state == CHORD_STARTING && !local)
			return resp_simple(500, "JOINING", len);
		return answer_find(o, &a, len);
	case CHORD_OP_GET_PREDECESSOR:
		if (!o->has_pred)
			return resp_simple(404, "NONE", len);
		return answer_node(&o->pred, len);
	case CHORD_OP_GET_SUCCESSORS:
		return answer_successors(o, len);
	case CHORD_OP_NOTIFY:
		tail = chord_request_tail(req, 0);
		if (chord_node_parse(tail.ptr, tail.len, &n) != 0)
			break;
		chord_notified(o, &n);
		return resp_simple(200, "OK", len);
	case CHORD_OP_PUT:
		resp = answer_put(o, req, len);
		break;
	case CHORD_OP_GET:
		resp = answer_get(o, req, len);
		break;
	case CHORD_OP_LIST:
		/* Responsible for (p, n]; everything while p is unknown. */
		a = o->has_pred ? o->pred.id : o->self.id;
		resp = answer_page(o, &a, &o->self.id,
		    req->nargs == 1 ? &req->args[0] : NULL, len);
		break;
	case CHORD_OP_TRANSFER_KEYS:
		if (chord_id_parse(req->args[0].ptr, req->args[0].len, &a) !=
			0 ||
		    chord_id_parse(req->args[1].ptr, req->args[1].len, &b) != 0)
			break;
		resp = answer_page(
		    o, &a, &b, req->nargs == 3 ? &req->args[2] : NULL, len);
		break;
	case CHORD_OP_UNKNOWN:
	case CHORD_OP_JOIN:
	case CHORD_OP_DELETE:
	case CHORD_OP_COUNT:
		break;
	}
	if (resp != NULL)
		return resp;
	o->n.bad_requests += !local;
	return resp_simple(422, "MALFORMED", len);
}

/* --------------------------------------------------------- connections */

static const char *
sconn_state_name(enum sconn_state s)
{
	switch (s) {
	case SCONN_READING:
		return "reading";
	case SCONN_ANSWERED:
		return "answered";
	}
	return "?";
}

static void
sconn_set_state(struct chord_sconn *sc, enum sconn_state s)
{
	char peer[ADDR_STRLEN];

	addr_format((struct sockaddr *)&sc->c->peer, peer, sizeof(peer));
	log_debug("chord: %s: %s -> %s", peer, sconn_state_name(sc->state),
	    sconn_state_name(s));
	sc->state = s;
}

static void
sconn_answer(struct chord_sconn *sc, char *buf, size_t len)
{
	sconn_set_state(sc, SCONN_ANSWERED);
	conn_pause(sc->c);
	conn_write_close(sc->c, buf, len);
	free(buf);
}

/* The first bytes are a course transfer request: "RETR" + an MD5 digit. */
static int
sconn_is_transfer(const struct conn *c)
{
	enum course_kind k;

	if (c->rlen <= COURSE_KIND_LEN)
		return 0;
	k = course_kind_parse(c->rbuf);
	return (k == COURSE_RETR || k == COURSE_RETP || k == COURSE_HASH) &&
	    wire_hex_value(c->rbuf[COURSE_KIND_LEN]) >= 0;
}

static void
sconn_unlink(struct overlay *o, struct chord_sconn *sc)
{
	if (sc->prev != NULL)
		sc->prev->next = sc->next;
	else
		o->sconns = sc->next;
	if (sc->next != NULL)
		sc->next->prev = sc->prev;
}

static void
sconn_request(struct chord_sconn *sc)
{
	struct overlay *o = sc->o;
	struct conn *c = sc->c;
	struct chord_request r;
	uint64_t elapsed;
	size_t len;
	char *resp;
	int n;

	if (o->env.rs != NULL && sconn_is_transfer(c)) {
		o->n.transfers_handed++;
		sconn_unlink(o, sc);
		free(sc);
		request_server_adopt(o->env.rs, c);
		return;
	}
	n = chord_request_parse(c->rbuf, c->rlen, &r);
	if (n == 0) {
		/* The deadline runs from accept, not from the last byte. */
		elapsed = uv_now(o->env.loop) - sc->accepted_ms;
		if (elapsed >= o->cfg.request_timeout_ms)
			conn_close(c, UV_ETIMEDOUT);
		else
			conn_set_timeout(
			    c, o->cfg.request_timeout_ms - elapsed);
		return;
	}
	if (n < 0) {
		o->n.bad_requests++;
		log_debug("chord: bad request line: %s", warren_strerror(n));
		sconn_answer(sc, resp_simple(422, "MALFORMED", &len), len);
		return;
	}
	resp = chord_serve_answer(o, &r, 0, &len);
	sconn_answer(sc, resp, len);
}

static void
sconn_read(struct conn *c)
{
	struct chord_sconn *sc = c->owner;

	switch (sc->state) {
	case SCONN_READING:
		if (sc->o != NULL)
			sconn_request(sc);
		return;
	case SCONN_ANSWERED:
		conn_consume(c, c->rlen); /* one request per connection */
		return;
	}
}

static void
sconn_closed(struct conn *c, int err)
{
	struct chord_sconn *sc = c->owner;
	struct overlay *o = sc->o;

	(void)err;
	if (o != NULL)
		sconn_unlink(o, sc);
	free(sc);
}

static void
sconn_accept(void *arg, struct conn *c)
{
	struct overlay *o = arg;
	struct chord_sconn *sc = xcalloc(1, sizeof(*sc));

	sc->o = o;
	sc->c = c;
	sc->accepted_ms = uv_now(o->env.loop);
	sc->state = SCONN_READING;
	sc->next = o->sconns;
	if (o->sconns != NULL)
		o->sconns->prev = sc;
	o->sconns = sc;
	if (conn_start(c, sconn_read, sconn_closed, sc,
		o->cfg.request_timeout_ms) != 0)
		conn_close(c, 0); /* sconn_closed frees sc */
}

int
chord_serve_start(struct overlay *o)
{
	char a[ADDR_STRLEN];

	for (unsigned i = 0; i < o->cfg.nlisten; i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&o->cfg.listen[i];
		struct listener *l;
		int err;

		addr_format(sa, a, sizeof(a));
		err = listener_start(o->env.loop, sa, (int)o->cfg.max_conns,
		    CHORD_LINE_MAX, sconn_accept, o, &l);
		if (err != 0) {
			log_error("chord: cannot listen on %s: %s%s", a,
			    uv_strerror(err),
			    err == UV_EADDRINUSE
				? " (another program uses that port: pick "
				  "another with --chord-listen)"
				: "");
			return -1;
		}
		o->listeners[o->nlisteners++] = l;
		addr_format(listener_addr(l), a, sizeof(a));
		log_info("chord: ring port %s", a);
	}
	return 0;
}

uint16_t
chord_serve_port(const struct overlay *o)
{
	return o->nlisteners > 0 ? addr_port(listener_addr(o->listeners[0]))
				 : 0;
}

void
chord_serve_stop(struct overlay *o)
{
	struct chord_sconn *sc, *next;

	for (unsigned i = 0; i < o->nlisteners; i++)
		listener_close(o->listeners[i]);
	o->nlisteners = 0;
	for (sc = o->sconns; sc != NULL; sc = next) {
		next = sc->next;
		sc->o = NULL;
		conn_close(sc->c, 0);
	}
	o->sconns = NULL;
}
