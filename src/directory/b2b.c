/*
 * b2b.c: the beer2beer index server of `warren directory` (b2b.h). Each
 * connection reads one whole frame (b2b_frame_next), answers it with
 * exactly one frame, and only then looks at the next one, so pipelined
 * requests are answered in order and a client that does not read its
 * answers stops being read. Queries run on the loop over a read-only
 * handle (WAL readers never wait for the writer); requests that check a
 * password or change state run on the libuv thread pool over a durable
 * handle, at most B2B_VERIFY_MAX password hashes at once and one request
 * per username at a time, so a REGISTER of a name is decided against the
 * registrations committed before it. A client may shut down its sending
 * side after its last request (half-close): what it sent is answered,
 * then the connection closes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <netinet/in.h>

#include "b2b.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "net/listener.h"
#include "overlay/flood.h"
#include "warren/error.h"
#include "wire/beer2beer.h"

#define BS_PER_ADDR_DIV 8   /* §7: 256 connections, 32 per address */
#define BS_RESP_MAX     128 /* an answer computed on the pool: OK, id, KO */
#define BS_RATE_SLOTS   4096
#define BS_RETRY_MIN_MS 10
#define BS_RETRY_MAX_MS 1000

/*
 * A connection's state. Only IDLE and FRAME read; every other state has
 * a request in hand and reading paused until its answer is written.
 */
enum bs_state {
	BS_IDLE,   /* between frames: the idle deadline (10 min) runs */
	BS_FRAME,  /* part of a frame is in: the frame deadline (30 s) runs */
	BS_RATE,   /* a SEARCH_FILE waits for its address's search rate */
	BS_QUEUED, /* waiting for a password slot, within the frame deadline */
	BS_WORK,   /* on the thread pool */
	BS_WRITE,  /* the answer is being written */
	BS_CLOSED, /* the conn is gone; freed once its timer is closed */
};

static const char *const bs_state_names[] = {
    [BS_IDLE] = "idle",
    [BS_FRAME] = "frame",
    [BS_RATE] = "rate",
    [BS_QUEUED] = "queued",
    [BS_WORK] = "work",
    [BS_WRITE] = "write",
    [BS_CLOSED] = "closed",
};

struct bs_job;

struct bs_conn {
	struct b2b_server *srv;
	struct conn *c;      /* NULL once closed */
	uv_timer_t timer;    /* the deadline of the state; timer.data == this */
	enum bs_state state; /* set by bs_set_state() only */
	uint64_t frame_ms;   /* uv_now() when the frame in hand began */
	struct bs_job *job;  /* queued or on the pool, or NULL */
	uint8_t key[16];     /* source address, IPv4 as ::ffff:a.b.c.d */
	struct b2b_addr src; /* the same as beer2beer.h's address */
	char label[ADDR_STRLEN];   /* for logs */
	LIST_ENTRY(bs_conn) entry; /* srv->conns */
};

enum bs_job_kind { BS_JOB_REQUEST, BS_JOB_SWEEP };

/* Work for the thread pool: one request of a connection, or a sweep. */
struct bs_job {
	uv_work_t work; /* work.data == this */
	struct b2b_server *srv;
	struct bs_conn *bc; /* NULL: a sweep, or its connection closed */
	enum bs_job_kind kind;
	int verify;                /* holds one of the B2B_VERIFY_MAX slots */
	uint8_t *payload;          /* copy of the request payload, owned */
	struct b2b_request req;    /* parsed: views into payload */
	struct b2b_addr src;       /* the connection's source */
	int close;                 /* no answer: close the connection */
	uint8_t resp[BS_RESP_MAX]; /* the answer frame */
	size_t resp_len;
	int swept;                 /* BS_JOB_SWEEP: deleted, or -EIO */
	TAILQ_ENTRY(bs_job) entry; /* srv->queue */
};

/* Live connections from one address. */
struct bs_src {
	uint8_t key[16];
	int live;
};

struct b2b_server {
	uv_loop_t *loop;
	const struct directory_config *cfg;
	struct accounts *rd; /* the loop's queries */
	struct accounts *wr; /* the pool's writes: durable */
	struct listener *listeners[DIRECTORY_MAX_LISTEN];
	unsigned nlisteners;
	LIST_HEAD(, bs_conn) conns;
	int live;                   /* connections in conns */
	int max_conns;              /* over every listener */
	int per_addr;               /* from one address */
	struct bs_src *srcs;        /* max_conns entries; live > 0 in use */
	TAILQ_HEAD(, bs_job) queue; /* waiting for a password slot, FIFO */
	struct bs_job *verifying[B2B_VERIFY_MAX];
	unsigned nverifying;
	struct flood_rate *searches; /* SEARCH_FILE per source address */
	uv_timer_t sweep_timer;
	int sweeping; /* a sweep is on the pool */
	int stopped;
	uint8_t *scratch; /* B2B_FRAME_MAX bytes: the loop's answers */
	struct b2b_stats stats;
};

static void bs_next(struct bs_conn *bc);

int64_t
b2b_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ states */

static void bs_timer_cb(uv_timer_t *t);

static void
bs_timer_in(struct bs_conn *bc, uint64_t ms)
{
	uv_timer_start(&bc->timer, bs_timer_cb, ms > 0 ? ms : 1, 0);
}

/* Time left of the frame deadline, at least 1 ms. */
static uint64_t
bs_frame_left(struct bs_conn *bc)
{
	uint64_t now = uv_now(bc->srv->loop),
		 end = bc->frame_ms + bc->srv->cfg->b2b_frame_timeout_ms;

	return end > now ? end - now : 1;
}

static void
bs_set_state(struct bs_conn *bc, enum bs_state st)
{
	const struct directory_config *cfg = bc->srv->cfg;

	if (bc->state != st)
		log_debug("b2b %s: %s -> %s", bc->label,
		    bs_state_names[bc->state], bs_state_names[st]);
	bc->state = st;
	switch (st) {
	case BS_IDLE:
		bs_timer_in(bc, cfg->b2b_idle_timeout_ms);
		conn_resume(bc->c);
		break;
	case BS_FRAME:
		bs_timer_in(bc, bs_frame_left(bc));
		conn_resume(bc->c);
		break;
	case BS_RATE: {
		double rate = cfg->search_rate > 0 ? cfg->search_rate : 1;
		uint64_t ms = (uint64_t)(1000.0 / rate);

		ms = ms < BS_RETRY_MIN_MS  ? BS_RETRY_MIN_MS
		    : ms > BS_RETRY_MAX_MS ? BS_RETRY_MAX_MS
					   : ms;
		bs_timer_in(bc, ms);
		conn_pause(bc->c);
		break;
	}
	case BS_QUEUED:
		bs_timer_in(bc, bs_frame_left(bc));
		conn_pause(bc->c);
		break;
	case BS_WORK:
		/* Bounded by the hash's cost: no deadline. */
		uv_timer_stop(&bc->timer);
		conn_pause(bc->c);
		break;
	case BS_WRITE:
		/* A client that does not read its answer is gone. */
		bs_timer_in(bc, cfg->b2b_frame_timeout_ms);
		conn_pause(bc->c);
		break;
	case BS_CLOSED:
		uv_timer_stop(&bc->timer);
		break;
	}
}

/* ------------------------------------------------------------ answers */

static void
bs_written(struct conn *c, void *arg, int status)
{
	struct bs_conn *bc = c->owner;

	free(arg);
	if (status != 0 || bc->state != BS_WRITE)
		return;
	bs_set_state(bc, BS_IDLE);
	bs_next(bc);
}

/* Send one answer frame (copied) and wait for it to be written. */
static void
bs_send(struct bs_conn *bc, const void *frame, size_t len)
{
	uint8_t *copy = xmalloc(len);
	uv_buf_t b;
	int err;

	memcpy(copy, frame, len);
	b = uv_buf_init((char *)copy, (unsigned)len);
	bc->srv->stats.requests++;
	bs_set_state(bc, BS_WRITE);
	if ((err = conn_writev(bc->c, &b, 1, bs_written, copy)) != 0) {
		free(copy);
		conn_close(bc->c, err);
	}
}

static int
bs_put_peer(void *arg, const struct b2b_peer *p)
{
	return b2b_out_peer(arg, p) == WARREN_ESPACE;
}

static int
bs_put_entry(void *arg, const struct b2b_file *f)
{
	return b2b_out_entry(arg, f) == WARREN_ESPACE;
}

static int
bs_put_hit(void *arg, const struct b2b_hit *h)
{
	return b2b_out_hit(arg, h) == WARREN_ESPACE;
}

/*
 * SHOW_PEERS, BROWSE_PEER, SEARCH_FILE, DOWNLOAD_FILE into the scratch
 * buffer, cut at a record boundary. Returns the frame length or -EIO.
 */
static int
bs_query(struct b2b_server *srv, const struct b2b_request *req)
{
	struct b2b_out o;
	int64_t now = b2b_now_ms();
	int rc = 0;

	if (b2b_response_begin(&o, req->type, srv->scratch, B2B_FRAME_MAX) < 0)
		return -EIO;
	switch ((enum b2b_type)req->type) {
	case B2B_SHOW_PEERS:
		rc = accounts_peers(
		    srv->rd, req->filter, req->offset, now, bs_put_peer, &o);
		break;
	case B2B_BROWSE_PEER:
		rc = accounts_browse(
		    srv->rd, req->id, req->offset, now, bs_put_entry, &o);
		if (rc == ACCOUNTS_EUNKNOWN)
			return b2b_encode_ko(req->type, B2B_R_UNKNOWN_PEER, 0,
			    srv->scratch, B2B_FRAME_MAX);
		break;
	case B2B_SEARCH_FILE:
		rc = accounts_search(srv->rd, req->query,
		    srv->cfg->search_results, now, bs_put_hit, &o);
		break;
	case B2B_DOWNLOAD_FILE:
		rc = accounts_holders(srv->rd, req->sha1, now, bs_put_hit, &o);
		break;
	default:
		return -EIO; /* not a query */
	}
	if (rc < 0)
		return rc;
	return b2b_out_end(&o);
}

/* ------------------------------------------------------ the thread pool */

static void
bs_ko(struct bs_job *j, enum b2b_reason reason, unsigned line)
{
	int n = b2b_encode_ko(
	    j->req.type, reason, line, j->resp, sizeof(j->resp));

	if (n < 0)
		j->close = 1;
	else
		j->resp_len = (size_t)n;
}

static void
bs_ok(struct bs_job *j)
{
	int n = b2b_encode_ok(j->req.type, j->resp, sizeof(j->resp));

	if (n < 0)
		j->close = 1;
	else
		j->resp_len = (size_t)n;
}

static void
bs_ok_id(struct bs_job *j, uint32_t id)
{
	int n = b2b_encode_ok_id(j->req.type, id, j->resp, sizeof(j->resp));

	if (n < 0)
		j->close = 1;
	else
		j->resp_len = (size_t)n;
}

/* An outcome the protocol has no KO for (the database failed): close. */
static void
bs_fail(struct bs_job *j, int rc)
{
	log_error("b2b: %s failed: %s", b2b_request_name(j->req.type),
	    warren_strerror(rc));
	j->close = 1;
}

/* Map a store result that is not 0 to the answer of request j. */
static void
bs_store_ko(struct bs_job *j, int rc)
{
	switch (rc) {
	case ACCOUNTS_EUNKNOWN:
		bs_ko(j, B2B_R_UNKNOWN_ID, 0);
		break;
	case ACCOUNTS_EAUTH:
		bs_ko(j, B2B_R_BAD_CREDENTIALS, 0);
		break;
	case ACCOUNTS_EFILES:
		bs_ko(j, B2B_R_TOO_MANY_FILES, 0);
		break;
	case ACCOUNTS_EFULL:
		bs_ko(j, B2B_R_SERVER_FULL, 0);
		break;
	case ACCOUNTS_ETAKEN:
		bs_ko(j, B2B_R_USER_TAKEN, 0);
		break;
	default:
		bs_fail(j, rc);
		break;
	}
}

/*
 * The credentials of j for registration id: it is live, its user is the
 * request's and the password verifies. Returns 0 with rec set to the
 * record the password matched, or -1 with j's answer set.
 */
static int
bs_creds(
    struct bs_job *j, uint32_t id, int64_t now, char rec[ACCOUNTS_PWREC_MAX])
{
	struct accounts_reg reg;
	int rc = accounts_get(j->srv->wr, id, now, &reg);

	if (rc != 0) {
		bs_store_ko(j, rc);
		return -1;
	}
	if (reg.user_len != j->req.user.len ||
	    memcmp(reg.user, j->req.user.ptr, reg.user_len) != 0) {
		bs_ko(j, B2B_R_BAD_CREDENTIALS, 0);
		return -1;
	}
	rc = accounts_pw_verify(j->req.pwd.ptr, j->req.pwd.len, reg.pwrec);
	if (rc != 1) {
		if (rc < 0)
			bs_fail(j, rc);
		else
			bs_ko(j, B2B_R_BAD_CREDENTIALS, 0);
		return -1;
	}
	memcpy(rec, reg.pwrec, ACCOUNTS_PWREC_MAX);
	return 0;
}

/* The file list of j, or -1 with j's answer set. Caller frees *out. */
static int
bs_files(struct bs_job *j, struct accounts_file **out)
{
	unsigned bad = 0;
	int n = accounts_files_collect(j->req.files, out, &bad);

	if (n < 0) {
		bs_ko(j, B2B_R_BAD_FILE_LINE, bad);
		return -1;
	}
	if ((unsigned)n > j->srv->cfg->files_per_registration) {
		free(*out);
		*out = NULL;
		bs_ko(j, B2B_R_TOO_MANY_FILES, 0);
		return -1;
	}
	return n;
}

static void
bs_register(struct bs_job *j, int64_t now)
{
	const struct b2b_request *r = &j->req;
	struct accounts_file *files = NULL;
	char rec[ACCOUNTS_PWREC_MAX];
	uint32_t id = 0;
	int n, rc;

	if ((n = bs_files(j, &files)) < 0)
		return;
	rc = accounts_user_pwrec(
	    j->srv->wr, r->user.ptr, r->user.len, now, rec);
	if (rc == 1) {
		/* A live name: only its password registers it again, and
		 * the new registration shares its record. */
		rc = accounts_pw_verify(r->pwd.ptr, r->pwd.len, rec);
		if (rc == 0)
			rc = ACCOUNTS_ETAKEN;
		else if (rc == 1)
			rc = 0;
	} else if (rc == 0) {
		rc = accounts_pw_hash(r->pwd.ptr, r->pwd.len,
		    j->srv->cfg->pbkdf2_iterations, rec);
	}
	if (rc == 0)
		rc = accounts_register(j->srv->wr, r->user.ptr, r->user.len,
		    rec, files, (size_t)n, now, &id);
	if (rc == 0)
		bs_ok_id(j, id);
	else
		bs_store_ko(j, rc);
	free(files);
}

/* An IPv4-mapped IPv6 address as the IPv4 it is. */
static struct b2b_addr
bs_unmap(struct b2b_addr a)
{
	static const uint8_t mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (a.family == AF_INET6 && memcmp(a.a, mapped, 12) == 0) {
		memmove(a.a, a.a + 12, 4);
		memset(a.a + 4, 0, 12);
		a.family = AF_INET;
	}
	return a;
}

static void
bs_login(struct bs_job *j, int64_t now)
{
	const struct b2b_request *r = &j->req;
	char rec[ACCOUNTS_PWREC_MAX];
	struct b2b_addr ip;
	uint16_t port;
	int rc;

	if (bs_creds(j, r->id, now, rec) != 0)
		return;
	/* §4.2: no ip line, the connection's source; no port line, the
	 * configured default. */
	ip = bs_unmap(r->addr.family != 0 ? r->addr : j->src);
	port = r->port != 0 ? r->port
			    : (uint16_t)j->srv->cfg->default_peer_port;
	rc = accounts_login(j->srv->wr, r->id, r->user.ptr, r->user.len, rec,
	    &ip, port, &j->src, now);
	if (rc == 0)
		bs_ok(j);
	else
		bs_store_ko(j, rc);
}

static void
bs_logout(struct bs_job *j, int64_t now)
{
	const struct b2b_request *r = &j->req;
	char rec[ACCOUNTS_PWREC_MAX];
	int rc;

	if (r->id != 0) {
		if (bs_creds(j, r->id, now, rec) != 0)
			return;
	} else {
		/* Two-line form: every live registration of the name (they
		 * share one record). */
		rc = accounts_user_pwrec(
		    j->srv->wr, r->user.ptr, r->user.len, now, rec);
		if (rc == 1)
			rc = accounts_pw_verify(r->pwd.ptr, r->pwd.len, rec);
		if (rc < 0) {
			bs_fail(j, rc);
			return;
		}
		if (rc == 0) {
			bs_ko(j, B2B_R_BAD_CREDENTIALS, 0);
			return;
		}
	}
	rc = accounts_logout(
	    j->srv->wr, r->user.ptr, r->user.len, rec, r->id, now);
	if (rc > 0)
		bs_ok(j);
	else if (rc == 0)
		bs_ko(j, r->id != 0 ? B2B_R_UNKNOWN_ID : B2B_R_BAD_CREDENTIALS,
		    0);
	else
		bs_fail(j, rc);
}

static void
bs_set_files(struct bs_job *j, int64_t now)
{
	const struct b2b_request *r = &j->req;
	struct accounts_file *files = NULL;
	char rec[ACCOUNTS_PWREC_MAX];
	int n, rc;

	if ((n = bs_files(j, &files)) < 0)
		return;
	if (bs_creds(j, r->id, now, rec) == 0) {
		rc = accounts_set_files(j->srv->wr, r->id, r->user.ptr,
		    r->user.len, rec, files, (size_t)n,
		    r->type == B2B_REGISTER_UPDATE, now);
		if (rc == 0)
			bs_ok_id(j, r->id);
		else
			bs_store_ko(j, rc);
	}
	free(files);
}

static void
bs_keepalive(struct bs_job *j, int64_t now)
{
	int rc = accounts_keepalive(j->srv->wr, j->req.id, &j->src, now);

	if (rc == 0)
		bs_ok(j);
	else if (rc == ACCOUNTS_EUNKNOWN)
		bs_ko(j, B2B_R_NOT_LOGGED_IN, 0);
	else
		bs_fail(j, rc);
}

/* On a pool thread: no loop, no connection; the wr handle only. */
static void
bs_work(uv_work_t *w)
{
	struct bs_job *j = w->data;
	int64_t now = b2b_now_ms();

	if (j->kind == BS_JOB_SWEEP) {
		int n, more = 1;

		j->swept = 0;
		while (
		    more && (n = accounts_sweep(j->srv->wr, now, &more)) >= 0)
			j->swept += n;
		if (more)
			j->swept = -EIO; /* stopped by an error */
		return;
	}
	switch ((enum b2b_type)j->req.type) {
	case B2B_REGISTER:
		bs_register(j, now);
		break;
	case B2B_LOGIN:
		bs_login(j, now);
		break;
	case B2B_KEEP_ALIVE:
		bs_keepalive(j, now);
		break;
	case B2B_LOGOUT:
		bs_logout(j, now);
		break;
	case B2B_REGISTER_UPDATE:
	case B2B_REGISTER_APPEND:
		bs_set_files(j, now);
		break;
	case B2B_SHOW_PEERS:
	case B2B_BROWSE_PEER:
	case B2B_SEARCH_FILE:
	case B2B_DOWNLOAD_FILE:
		j->close = 1; /* answered on the loop, never queued */
		break;
	}
}

static void bs_schedule(struct b2b_server *srv);

static void
bs_job_free(struct bs_job *j)
{
	if (j == NULL)
		return;
	free(j->payload);
	free(j);
}

/* On the loop, after bs_work. */
static void
bs_work_done(uv_work_t *w, int status)
{
	struct bs_job *j = w->data;
	struct b2b_server *srv = j->srv;
	struct bs_conn *bc = j->bc;

	(void)status;
	if (j->verify) {
		for (unsigned i = 0; i < B2B_VERIFY_MAX; i++)
			if (srv->verifying[i] == j)
				srv->verifying[i] = NULL;
		srv->nverifying--;
	}
	if (j->kind == BS_JOB_SWEEP) {
		srv->sweeping = 0;
		if (j->swept > 0) {
			srv->stats.swept += (uint64_t)j->swept;
			log_info("beer2beer: %d expired registration%s deleted",
			    j->swept, j->swept == 1 ? "" : "s");
		} else if (j->swept < 0) {
			log_error("beer2beer: the sweep of expired "
				  "registrations failed; next try in %llu s",
			    (unsigned long long)srv->cfg->sweep_interval_ms /
				1000);
		}
	} else if (bc != NULL) {
		/* The connection is still there (a close detaches it). */
		bc->job = NULL;
		if (j->close || j->resp_len == 0) {
			srv->stats.closed++;
			conn_close(bc->c, WARREN_EPROTO);
		} else {
			bs_send(bc, j->resp, j->resp_len);
		}
	}
	bs_job_free(j);
	bs_schedule(srv);
}

static void
bs_start(struct bs_job *j)
{
	struct b2b_server *srv = j->srv;

	if (j->verify) {
		for (unsigned i = 0; i < B2B_VERIFY_MAX; i++) {
			if (srv->verifying[i] == NULL) {
				srv->verifying[i] = j;
				break;
			}
		}
		srv->nverifying++;
	}
	if (j->bc != NULL)
		bs_set_state(j->bc, BS_WORK);
	j->work.data = j;
	(void)uv_queue_work(srv->loop, &j->work, bs_work, bs_work_done);
}

/* Is a request of j's user already on the pool? */
static int
bs_user_busy(struct b2b_server *srv, const struct bs_job *j)
{
	for (unsigned i = 0; i < B2B_VERIFY_MAX; i++) {
		const struct bs_job *r = srv->verifying[i];

		if (r != NULL && r->req.user.len == j->req.user.len &&
		    memcmp(r->req.user.ptr, j->req.user.ptr, r->req.user.len) ==
			0)
			return 1;
	}
	return 0;
}

/* Start queued requests while password slots are free, oldest first,
 * skipping a name that already has one on the pool. */
static void
bs_schedule(struct b2b_server *srv)
{
	struct bs_job *j, *next;

	for (j = TAILQ_FIRST(&srv->queue);
	     j != NULL && srv->nverifying < B2B_VERIFY_MAX; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (bs_user_busy(srv, j))
			continue;
		TAILQ_REMOVE(&srv->queue, j, entry);
		bs_start(j);
	}
}

/* Hand a request that writes or checks a password to the pool. */
static void
bs_submit(struct bs_conn *bc, uint16_t type, struct b2b_str payload)
{
	struct b2b_server *srv = bc->srv;
	struct bs_job *j = xcalloc(1, sizeof(*j));

	j->srv = srv;
	j->bc = bc;
	j->kind = BS_JOB_REQUEST;
	j->payload = xmalloc(payload.len > 0 ? payload.len : 1);
	memcpy(j->payload, payload.ptr, payload.len);
	/* Parsed again in the copy: the views must outlive the read buffer.
	 * It parsed once, so it parses again. */
	(void)b2b_request_parse(type, j->payload, payload.len, &j->req);
	j->src = bc->src;
	j->verify = type != B2B_KEEP_ALIVE;
	bc->job = j;
	if (!j->verify) {
		bs_start(j);
		return;
	}
	TAILQ_INSERT_TAIL(&srv->queue, j, entry);
	bs_set_state(bc, BS_QUEUED);
	bs_schedule(srv);
}

/* ------------------------------------------------------------ frames */

/* One whole frame of flen bytes at the head of the read buffer. */
static void
bs_handle(
    struct bs_conn *bc, uint16_t type, struct b2b_str payload, size_t flen)
{
	struct b2b_server *srv = bc->srv;
	struct conn *c = bc->c;
	struct b2b_request req;
	int n;

	if (!b2b_is_request(type)) {
		/* §7: no KO code exists for it. */
		log_debug("b2b %s: type %u is not a request: closing",
		    bc->label, type);
		srv->stats.closed++;
		conn_close(c, WARREN_EKIND);
		return;
	}
	if (b2b_request_parse(type, payload.ptr, payload.len, &req) < 0) {
		log_debug("b2b %s: %s refused: %s", bc->label,
		    b2b_request_name(type), b2b_reason_text(req.reason));
		n = b2b_encode_ko(type, req.reason, req.bad_line, srv->scratch,
		    B2B_FRAME_MAX);
		conn_consume(c, flen);
		if (n < 0)
			conn_close(c, n);
		else
			bs_send(bc, srv->scratch, (size_t)n);
		return;
	}
	if (type == B2B_SEARCH_FILE &&
	    !flood_rate_allow(srv->searches, (struct sockaddr *)&c->peer,
		uv_now(srv->loop))) {
		/* Wait for a token rather than refuse: there is no KO reason
		 * for it, and the client waits 30 s. */
		bs_set_state(bc, BS_RATE);
		return;
	}
	switch ((enum b2b_type)type) {
	case B2B_SEARCH_FILE:
	case B2B_SHOW_PEERS:
	case B2B_BROWSE_PEER:
	case B2B_DOWNLOAD_FILE:
		n = bs_query(srv, &req);
		conn_consume(c, flen);
		if (n < 0) {
			log_error("b2b %s: %s failed: %s", bc->label,
			    b2b_request_name(type), warren_strerror(n));
			conn_close(c, n);
		} else {
			bs_send(bc, srv->scratch, (size_t)n);
		}
		return;
	case B2B_REGISTER:
	case B2B_LOGIN:
	case B2B_KEEP_ALIVE:
	case B2B_LOGOUT:
	case B2B_REGISTER_UPDATE:
	case B2B_REGISTER_APPEND:
		bs_submit(bc, type, payload);
		conn_consume(c, flen);
		return;
	}
}

/* Look at the read buffer: answer a whole frame, or wait for more. */
static void
bs_next(struct bs_conn *bc)
{
	struct conn *c = bc->c;
	struct b2b_str payload;
	uint16_t type;
	int n;

	if (bc->state != BS_IDLE && bc->state != BS_FRAME)
		return;
	n = b2b_frame_next(c->rbuf, c->rlen, &type, &payload);
	if (n == 0 && c->eof) {
		/* Every whole frame is answered; a partial one never ends. */
		if (c->rlen > 0)
			log_debug("b2b %s: EOF inside a frame (%zu bytes)",
			    bc->label, c->rlen);
		conn_close(c, UV_EOF);
		return;
	}
	if (n == 0) {
		if (c->rlen == 0) {
			bs_set_state(bc, BS_IDLE);
		} else if (bc->state == BS_IDLE) {
			bc->frame_ms = uv_now(bc->srv->loop);
			bs_set_state(bc, BS_FRAME);
		}
		return;
	}
	if (bc->state == BS_IDLE)
		bc->frame_ms = uv_now(bc->srv->loop);
	bs_handle(bc, type, payload, (size_t)n);
}

static void
bs_on_read(struct conn *c)
{
	bs_next(c->owner);
}

/* The client half-closed: answer the frames in hand, then close. Reading
 * runs only between frames, so nothing is in hand unless buffered. */
static void
bs_on_eof(struct conn *c)
{
	bs_next(c->owner);
}

static void
bs_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void bs_src_drop(struct b2b_server *srv, const uint8_t key[16]);

static void
bs_on_close(struct conn *c, int err)
{
	struct bs_conn *bc = c->owner;
	struct b2b_server *srv = bc->srv;

	log_debug("b2b %s: closed (%s)", bc->label,
	    err == 0 ? "by us"
		: err == UV_ETIMEDOUT
		? (bc->state == BS_IDLE ? "idle" : "deadline")
		: warren_strerror(err));
	if (bc->job != NULL) {
		if (bc->state == BS_QUEUED) {
			TAILQ_REMOVE(&srv->queue, bc->job, entry);
			bs_job_free(bc->job);
		} else {
			bc->job->bc = NULL; /* on the pool: it finishes alone */
		}
		bc->job = NULL;
	}
	bs_set_state(bc, BS_CLOSED);
	bc->c = NULL;
	LIST_REMOVE(bc, entry);
	srv->live--;
	bs_src_drop(srv, bc->key);
	uv_close((uv_handle_t *)&bc->timer, bs_timer_closed);
}

static void
bs_timer_cb(uv_timer_t *t)
{
	struct bs_conn *bc = t->data;

	switch (bc->state) {
	case BS_IDLE:
	case BS_FRAME:
	case BS_QUEUED:
	case BS_WRITE:
		if (bc->state != BS_IDLE)
			bc->srv->stats.closed++;
		conn_close(bc->c, UV_ETIMEDOUT);
		break;
	case BS_RATE:
		if (uv_now(bc->srv->loop) >=
		    bc->frame_ms + bc->srv->cfg->b2b_frame_timeout_ms) {
			bc->srv->stats.closed++;
			conn_close(bc->c, UV_ETIMEDOUT);
			break;
		}
		bs_set_state(bc, BS_FRAME);
		bs_next(bc);
		break;
	case BS_WORK:
	case BS_CLOSED:
		break;
	}
}

/* ------------------------------------------------------- connections */

static void
bs_key(const struct sockaddr *sa, uint8_t key[16], struct b2b_addr *addr)
{
	memset(key, 0, 16);
	memset(addr, 0, sizeof(*addr));
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(
		    &key[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
	addr->family = AF_INET6;
	memcpy(addr->a, key, 16);
	*addr = bs_unmap(*addr);
}

/* The entry of key, or a free one when create; NULL if none. */
static struct bs_src *
bs_src_get(struct b2b_server *srv, const uint8_t key[16], int create)
{
	struct bs_src *free_slot = NULL;

	for (int i = 0; i < srv->max_conns; i++) {
		struct bs_src *e = &srv->srcs[i];

		if (e->live > 0 && memcmp(e->key, key, 16) == 0)
			return e;
		if (e->live == 0 && free_slot == NULL)
			free_slot = e;
	}
	if (create && free_slot != NULL)
		memcpy(free_slot->key, key, 16);
	return create ? free_slot : NULL;
}

static void
bs_src_drop(struct b2b_server *srv, const uint8_t key[16])
{
	struct bs_src *e = bs_src_get(srv, key, 0);

	if (e != NULL)
		e->live--;
}

static void
bs_accept(void *arg, struct conn *c)
{
	struct b2b_server *srv = arg;
	struct sockaddr_storage peer;
	struct bs_conn *bc;
	struct bs_src *e;
	uint8_t key[16];
	struct b2b_addr src;
	int len = sizeof(peer);

	memset(&peer, 0, sizeof(peer));
	uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &len);
	bs_key((struct sockaddr *)&peer, key, &src);
	e = NULL;
	if (!srv->stopped && srv->live < srv->max_conns)
		e = bs_src_get(srv, key, 1);
	if (e == NULL || e->live >= srv->per_addr) {
		/* §7: accept and close at once. */
		srv->stats.refused++;
		conn_close(c, 0);
		return;
	}
	e->live++;
	srv->live++;
	srv->stats.accepted++;
	bc = xcalloc(1, sizeof(*bc));
	bc->srv = srv;
	bc->c = c;
	memcpy(bc->key, key, sizeof(key));
	bc->src = src;
	addr_format((struct sockaddr *)&peer, bc->label, sizeof(bc->label));
	uv_timer_init(srv->loop, &bc->timer);
	bc->timer.data = bc;
	LIST_INSERT_HEAD(&srv->conns, bc, entry);
	bc->state = BS_IDLE;
	conn_allow_half_close(c, bs_on_eof);
	if (conn_start(c, bs_on_read, bs_on_close, bc, 0) != 0) {
		conn_close(c, 0); /* bs_on_close cleans up */
		return;
	}
	bs_set_state(bc, BS_IDLE);
}

/* ------------------------------------------------------------ sweeper */

static void
bs_sweep_cb(uv_timer_t *t)
{
	struct b2b_server *srv = t->data;
	struct bs_job *j;

	if (srv->sweeping || srv->stopped)
		return;
	srv->sweeping = 1;
	j = xcalloc(1, sizeof(*j));
	j->srv = srv;
	j->kind = BS_JOB_SWEEP;
	bs_start(j);
}

/* ------------------------------------------------------------ server */

int
b2b_server_new(uv_loop_t *loop, const struct directory_config *cfg,
    const char *db_path, struct b2b_server **out)
{
	struct b2b_server *srv = xcalloc(1, sizeof(*srv));
	struct accounts_limits lim;

	memset(&lim, 0, sizeof(lim));
	lim.max_regs = cfg->max_registrations;
	lim.files_per_reg = cfg->files_per_registration;
	lim.ttl_ms = (int64_t)cfg->registration_ttl_ms;
	lim.online_ms = (int64_t)(cfg->keepalive_ms + cfg->keepalive_grace_ms);
	srv->loop = loop;
	srv->cfg = cfg;
	if (accounts_open(db_path, &lim, 1, &srv->wr) != 0 ||
	    accounts_open(db_path, &lim, 0, &srv->rd) != 0) {
		accounts_close(srv->wr);
		free(srv);
		return -1;
	}
	LIST_INIT(&srv->conns);
	TAILQ_INIT(&srv->queue);
	srv->max_conns = cfg->max_b2b_connections > 0
	    ? (int)cfg->max_b2b_connections
	    : 256;
	srv->per_addr = srv->max_conns / BS_PER_ADDR_DIV > 0
	    ? srv->max_conns / BS_PER_ADDR_DIV
	    : 1;
	srv->srcs = xcalloc((size_t)srv->max_conns, sizeof(*srv->srcs));
	srv->searches = flood_rate_new(
	    cfg->search_rate, cfg->search_burst, BS_RATE_SLOTS);
	srv->scratch = xmalloc(B2B_FRAME_MAX);
	uv_timer_init(loop, &srv->sweep_timer);
	srv->sweep_timer.data = srv;
	/* Once at start (a long downtime leaves expired ones), then on. */
	uv_timer_start(
	    &srv->sweep_timer, bs_sweep_cb, 0, cfg->sweep_interval_ms);
	*out = srv;
	return 0;
}

int
b2b_server_listen(struct b2b_server *s, const struct sockaddr *sa)
{
	struct listener *l;
	int err;

	if (s->nlisteners == DIRECTORY_MAX_LISTEN)
		return UV_ENOSPC;
	err = listener_start(
	    s->loop, sa, s->max_conns, B2B_FRAME_MAX, bs_accept, s, &l);
	if (err != 0)
		return err;
	s->listeners[s->nlisteners++] = l;
	return 0;
}

const struct sockaddr *
b2b_server_addr(const struct b2b_server *s, unsigned i)
{
	return i < s->nlisteners ? listener_addr(s->listeners[i]) : NULL;
}

struct accounts *
b2b_server_accounts(struct b2b_server *s)
{
	return s->rd;
}

void
b2b_server_stats(const struct b2b_server *s, struct b2b_stats *out)
{
	*out = s->stats;
}

void
b2b_server_stop(struct b2b_server *s)
{
	struct bs_conn *bc;

	if (s == NULL || s->stopped)
		return;
	s->stopped = 1;
	log_info("beer2beer: %llu connections (%llu refused), %llu answers, "
		 "%llu closes, %llu registrations expired",
	    (unsigned long long)s->stats.accepted,
	    (unsigned long long)s->stats.refused,
	    (unsigned long long)s->stats.requests,
	    (unsigned long long)s->stats.closed,
	    (unsigned long long)s->stats.swept);
	for (unsigned i = 0; i < s->nlisteners; i++)
		listener_close(s->listeners[i]);
	s->nlisteners = 0;
	uv_timer_stop(&s->sweep_timer);
	uv_close((uv_handle_t *)&s->sweep_timer, NULL);
	LIST_FOREACH(bc, &s->conns, entry)
	conn_close(bc->c, 0);
}

void
b2b_server_free(struct b2b_server *s)
{
	if (s == NULL)
		return;
	accounts_close(s->rd);
	accounts_close(s->wr);
	flood_rate_free(s->searches);
	free(s->srcs);
	free(s->scratch);
	free(s);
}
