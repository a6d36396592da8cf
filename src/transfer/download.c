/*
 * The download manager (see download.h for the behaviour).
 *
 * Structure: a download owns sources (struct dsrc) and requests in flight
 * (struct dreq: one HASH, RETP or RETR on its own connection). The loop
 * only moves bytes from sockets into part buffers; every disk touch is a
 * thread-pool job (struct djob): create the .part, check a part's SHA-1 and
 * pwrite it (and record it in SQLite), feed the whole-file MD5 in order,
 * re-check parts on resume, rename at the end, delete on cancel.
 * download_schedule() is the one place that decides what to request next.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/path.h"
#include "core/xmalloc.h"
#include "download.h"
#include "ratelimit.h"
#include "store/dlstate.h"
#include "store/hash.h"
#include "warren/error.h"
#include "wire/course.h"

#define DL_RCAP          (256 * 1024)  /* socket read buffer */
#define DL_STREAM_LEN    (1024 * 1024) /* RETR without part list: per job */
#define DL_MD5_READ      (1024 * 1024) /* MD5 job read size */
#define DL_SENTENCE_MAX  200           /* course.md §2.7 item 3 */
#define DL_NAME_TRIES    1000
#define DL_KEEP_FINISHED 100 /* finished downloads kept for status */
#define DL_RETR_PENDING  2   /* RETR part buffers awaiting their job */

enum part_state { PART_MISSING, PART_INFLIGHT, PART_WRITING, PART_DONE };

struct dsrc {
	struct download_source src;
	enum download_source_state state;
	int ext;           /* -1 unknown, 0 RETR only, 1 RETP */
	int probing;       /* HASH in flight */
	unsigned inflight; /* requests in flight */
	unsigned failures; /* consecutive, for backoff */
	uint64_t retry_at; /* BACKOFF until (uv_now) */
	uint64_t fetched;
	uint32_t good_parts, bad_parts;
	double rate;
	uint64_t rtt_ms;
	char error[200];
};

enum dreq_kind { DREQ_HASH, DREQ_RETP, DREQ_RETR };

struct dreq {
	struct download *d;
	unsigned si; /* source index */
	enum dreq_kind kind;
	struct dial *dial;
	struct conn *c;
	uint64_t t_conn, t_first; /* uv_now at connect, at first data */
	struct course_chunks chunks;
	struct course_ahas ahas;
	uint8_t *hashes; /* AHAS being received */
	uint32_t part;   /* RETP: the part; RETR: part being filled */
	int claimed;     /* RETR: this request owns part (INFLIGHT) */
	uint8_t *buf;    /* part buffer (or stream buffer) */
	size_t blen, bcap;
	unsigned pending_jobs; /* RETR: buffers handed to write jobs */
	uint8_t carry[32];     /* data beyond the buffer, for the next one */
	size_t carry_len;
	uint64_t received; /* data bytes in this request */
	char sentence[DL_SENTENCE_MAX + 1];
	size_t slen;
	int in_sentence;
	int throttled; /* paused by the rate limit */
	int finished;  /* result delivered; only the close remains */
	struct dreq *next;
};

enum djob_kind {
	DJOB_CREATE,   /* exclusive create of the .part */
	DJOB_PART,     /* SHA-1 check + pwrite + record */
	DJOB_STREAM,   /* RETR without part list: pwrite + MD5 */
	DJOB_MD5,      /* feed the whole-file MD5 with parts in order */
	DJOB_CHECK,    /* resume: re-verify parts marked done */
	DJOB_FINALIZE, /* MD5 final, fsync, link to the final name */
	DJOB_DISCARD,  /* delete the .part, or keep it aside */
	DJOB_TRUNCATE, /* restart a RETR-only download from zero */
};

struct djob {
	uv_work_t work;
	struct download *d;
	enum djob_kind kind;
	uint32_t part;     /* DJOB_PART */
	uint32_t part_end; /* DJOB_MD5: parts [part, part_end) */
	uint8_t *buf;      /* owned */
	size_t len;
	uint64_t off;
	unsigned si;      /* source that sent the data */
	struct dreq *req; /* DJOB_PART from a RETR: to count pending */
	uint8_t *bitmap;  /* DJOB_CHECK: parts to re-verify; owned */
	int err;
	int ok;       /* DJOB_PART: SHA-1 matched; FINALIZE: MD5 */
	int feed_md5; /* DJOB_PART: also the next part of the MD5 */
};

struct download {
	struct downloader *dl;
	uint64_t id;
	int64_t row; /* dlstate id, or -1 */
	char md5[COURSE_MD5_LEN + 1];
	char *name, *dir;
	char *part_path, *final_path;
	enum download_state state;
	int err;
	char message[320];

	struct dsrc *src;
	unsigned nsrc, srccap;
	struct dreq *reqs;
	unsigned jobs; /* thread-pool jobs in flight */

	int fd;
	int layout;    /* part list adopted */
	uint64_t size; /* with layout, or once RETR completed */
	int size_known;
	uint32_t lenpart, nparts;
	uint8_t *hashes; /* nparts × 20 */
	uint8_t *pstate; /* enum part_state per part */
	uint8_t *bitmap; /* verified parts, (nparts + 7) / 8 */
	uint32_t parts_done;
	unsigned parts_inflight; /* INFLIGHT + WRITING: bounds the memory held
				    in part buffers to parts_in_flight */
	unsigned ahas_src;       /* source whose AHAS was adopted */

	uv_mutex_t wlock;   /* one pwrite at a time (the inode lock) */
	struct hash md5ctx; /* used by one job at a time */
	int md5_running;
	int checking;        /* resume: the CHECK job runs (shown as such) */
	int discard_wanted;  /* failed: DISCARD once no job is in flight */
	int discard_keep;    /* keep the data aside (MD5 mismatch) */
	uint32_t md5_next;   /* parts [0, md5_next) are in the MD5 */
	uint64_t stream_off; /* RETR without layout: bytes written */

	uint64_t fetched_before; /* fetched in earlier runs */
	uint64_t fetched;        /* this run */
	double rate;
	uint64_t rate_bytes, rate_ms;
	uint64_t retry_at; /* WAITING: next wake-up */
	int finished;      /* DONE/FAILED/CANCELED reported */
	int stopping;      /* manager going away: keep the row */
	struct download *next;
};

struct downloader {
	uv_loop_t *loop;
	struct download_opts opts;
	struct sockaddr_storage bind4, bind6;
	download_cb cb;
	void *cb_arg;
	uint64_t next_id;
	struct download *list;
	struct ratelimit limit;
	uv_timer_t tick; /* progress, retries, rate-limit wake-ups */
	int timer_open;
	int dead;
};

static void download_schedule(struct download *d);
static void download_maybe_free(struct download *d);
static void dreq_read(struct conn *c);
static void job_start(struct djob *j);

/* ---- names and states ---------------------------------------------------- */

const char *
download_state_name(enum download_state s)
{
	switch (s) {
	case DOWNLOAD_CREATING:
		return "creating";
	case DOWNLOAD_CHECKING:
		return "checking";
	case DOWNLOAD_RECEIVING:
		return "receiving";
	case DOWNLOAD_WAITING:
		return "waiting";
	case DOWNLOAD_PAUSED:
		return "paused";
	case DOWNLOAD_VERIFYING:
		return "verifying";
	case DOWNLOAD_DONE:
		return "done";
	case DOWNLOAD_FAILED:
		return "failed";
	case DOWNLOAD_CANCELED:
		return "canceled";
	}
	return "?";
}

const char *
download_source_state_name(enum download_source_state s)
{
	switch (s) {
	case DSRC_IDLE:
		return "idle";
	case DSRC_ACTIVE:
		return "active";
	case DSRC_BACKOFF:
		return "backoff";
	case DSRC_GONE:
		return "gone";
	case DSRC_BANNED:
		return "banned";
	}
	return "?";
}

static void
download_emit(struct download *d, enum download_event ev)
{
	if (d->dl->cb != NULL && !d->stopping)
		d->dl->cb(d->dl->cb_arg, d, ev);
}

static int
download_over(const struct download *d)
{
	return d->state == DOWNLOAD_DONE || d->state == DOWNLOAD_FAILED ||
	    d->state == DOWNLOAD_CANCELED;
}

static void
download_set_state(struct download *d, enum download_state s)
{
	if (d->state == s)
		return;
	log_debug("download %llu %s: %s -> %s", (unsigned long long)d->id,
	    d->md5, download_state_name(d->state), download_state_name(s));
	d->state = s;
	if (!download_over(d))
		download_emit(d, DOWNLOAD_EV_PROGRESS);
}

static uint64_t
download_now(const struct download *d)
{
	return uv_now(d->dl->loop);
}

static uint64_t
download_part_off(const struct download *d, uint32_t p)
{
	return (uint64_t)p * d->lenpart;
}

static size_t
download_part_len(const struct download *d, uint32_t p)
{
	uint64_t off = download_part_off(d, p);

	return (
	    size_t)(d->size - off < d->lenpart ? d->size - off : d->lenpart);
}

/* ---- thread-pool jobs ------------------------------------------------------ */

/* pwrite (write = 1) or pread all of len bytes at off: 0 or -errno;
 * a file shorter than off + len reads as -EIO. */
static int
job_io(int fd, uint8_t *buf, size_t len, uint64_t off, int write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write
		    ? pwrite(fd, buf + done, len - done, (off_t)(off + done))
		    : pread(fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Claim "dir/name", "dir/name (1)", ... for src with link(): never
 * replaces an existing file. Returns the new path or NULL (err set). */
static char *
job_claim(const char *src, const char *dir, const char *name,
    const char *suffix, int *err)
{
	for (unsigned i = 0; i < DL_NAME_TRIES; i++) {
		char *p = path_candidate(dir, name, i, suffix);

		if (link(src, p) == 0) {
			unlink(src);
			return p;
		}
		free(p);
		if (errno != EEXIST) {
			*err = -errno;
			return NULL;
		}
	}
	*err = -EEXIST;
	return NULL;
}

static void
job_work(uv_work_t *w)
{
	struct djob *j = w->data;
	struct download *d = j->d;
	uint8_t sha1[HASH_SHA1_LEN];

	j->err = 0;
	switch (j->kind) {
	case DJOB_CREATE:
		for (unsigned i = 0; i < DL_NAME_TRIES; i++) {
			char *p = path_candidate(d->dir, d->name, i, ".part");

			j->err = 0;
			d->fd = open(p,
			    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0644);
			if (d->fd >= 0) {
				free(d->part_path);
				d->part_path = p;
				return;
			}
			j->err = -errno;
			free(p);
			if (errno != EEXIST)
				return;
		}
		return;
	case DJOB_PART:
		hash_sha1(j->buf, j->len, sha1);
		j->ok = memcmp(sha1,
			    d->hashes + (size_t)j->part * HASH_SHA1_LEN,
			    HASH_SHA1_LEN) == 0;
		if (!j->ok)
			return;
		uv_mutex_lock(&d->wlock);
		j->err = job_io(d->fd, j->buf, j->len, j->off, 1);
		uv_mutex_unlock(&d->wlock);
		if (j->err == 0 && j->feed_md5)
			hash_update(&d->md5ctx, j->buf, j->len);
		return;
	case DJOB_STREAM:
		j->err = job_io(d->fd, j->buf, j->len, j->off, 1);
		if (j->err == 0)
			hash_update(&d->md5ctx, j->buf, j->len);
		return;
	case DJOB_MD5:
		for (uint32_t p = j->part; p < j->part_end; p++) {
			size_t len = download_part_len(d, p);

			j->err = job_io(
			    d->fd, j->buf, len, download_part_off(d, p), 0);
			if (j->err != 0)
				return;
			hash_update(&d->md5ctx, j->buf, len);
		}
		return;
	case DJOB_CHECK:
		/* Re-verify parts the state store says are done: the bytes
		 * may have changed while we were not running. */
		for (uint32_t p = 0; p < d->nparts; p++) {
			size_t len = download_part_len(d, p);

			if (!(j->bitmap[p / 8] & (1u << (p % 8))))
				continue;
			if (job_io(d->fd, j->buf, len, download_part_off(d, p),
				0) != 0) {
				j->bitmap[p / 8] &= (uint8_t) ~(1u << (p % 8));
				continue;
			}
			hash_sha1(j->buf, len, sha1);
			if (memcmp(sha1, d->hashes + (size_t)p * HASH_SHA1_LEN,
				HASH_SHA1_LEN) != 0)
				j->bitmap[p / 8] &= (uint8_t) ~(1u << (p % 8));
		}
		return;
	case DJOB_FINALIZE: {
		uint8_t digest[HASH_MD5_LEN];
		char hex[2 * HASH_MD5_LEN + 1];
		char *p;

		hash_final(&d->md5ctx, digest);
		hash_hex(digest, HASH_MD5_LEN, hex);
		j->ok = strcmp(hex, d->md5) == 0;
		if (!j->ok)
			return;
		if (ftruncate(d->fd, (off_t)d->size) != 0 ||
		    fsync(d->fd) != 0) {
			j->err = -errno;
			return;
		}
		p = job_claim(d->part_path, d->dir, d->name, "", &j->err);
		if (p != NULL)
			d->final_path = p;
		return;
	}
	case DJOB_DISCARD:
		if (d->md5ctx.ctx != NULL)
			hash_release(&d->md5ctx);
		if (d->part_path == NULL)
			return;
		if (j->ok) { /* keep aside */
			char *base = xasprintf("%s.bad", d->name);
			char *p = job_claim(
			    d->part_path, d->dir, base, ".part", &j->err);

			free(base);
			if (p != NULL) {
				free(d->part_path);
				d->part_path = p;
			}
		} else {
			unlink(d->part_path);
		}
		return;
	case DJOB_TRUNCATE:
		if (ftruncate(d->fd, 0) != 0)
			j->err = -errno;
		if (d->md5ctx.ctx != NULL)
			hash_release(&d->md5ctx);
		hash_init(&d->md5ctx, HASH_MD5);
		return;
	}
}

static void job_done(uv_work_t *w, int status);

static struct djob *
job_new(struct download *d, enum djob_kind kind)
{
	struct djob *j = xcalloc(1, sizeof(*j));

	j->d = d;
	j->kind = kind;
	j->work.data = j;
	return j;
}

static void
job_start(struct djob *j)
{
	j->d->jobs++;
	if (uv_queue_work(j->d->dl->loop, &j->work, job_work, job_done) != 0)
		abort(); /* fails only for a NULL work callback */
}

/* ---- ending ------------------------------------------------------------------ */

static void dreq_end(struct dreq *r);

/* Abandon a request: release its parts and source, then close. */
static void
dreq_close(struct dreq *r)
{
	dreq_end(r);
	if (r->dial != NULL)
		dial_cancel(r->dial); /* its callback frees r */
	if (r->c != NULL)
		conn_close(r->c, 0); /* its close callback frees r */
}

static void
download_stop_requests(struct download *d)
{
	for (struct dreq *r = d->reqs; r != NULL; r = r->next)
		if (!r->finished)
			dreq_close(r);
}

static void
download_store_state(struct download *d, const char *state)
{
	if (d->dl->opts.state != NULL && d->row > 0)
		dlstate_set_state(d->dl->opts.state, d->row, state);
}

/* Fail for good (or cancel): stop requests, then discard the file. */
static void download_fail(struct download *d, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
download_fail(struct download *d, int err, const char *fmt, ...)
{
	char msg[sizeof(d->message)];
	struct djob *j;
	va_list ap;

	if (download_over(d))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap); /* args may be d->message */
	va_end(ap);
	memcpy(d->message, msg, sizeof(msg));
	d->err = err;
	download_stop_requests(d);
	download_set_state(
	    d, err == WARREN_ECANCELED ? DOWNLOAD_CANCELED : DOWNLOAD_FAILED);
	if (err != WARREN_ECANCELED)
		log_warn("download %s failed: %s", d->md5, d->message);
	download_store_state(
	    d, err == WARREN_ECANCELED ? "canceled" : "failed");
	d->discard_keep = err == WARREN_EMD5; /* keep the data aside */
	if (d->jobs > 0) {
		/* A job may be using the file or the MD5 context: discard
		 * when the last one is done (job_done). */
		d->discard_wanted = 1;
		return;
	}
	j = job_new(d, DJOB_DISCARD);
	j->ok = d->discard_keep;
	job_start(j);
}

static void
download_finish(struct download *d)
{
	if (d->finished)
		return;
	d->finished = 1;
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	download_emit(d,
	    d->state == DOWNLOAD_DONE ? DOWNLOAD_EV_DONE : DOWNLOAD_EV_FAILED);
	download_maybe_free(d);
}

/* ---- sources ------------------------------------------------------------------ */

static void dsrc_fail(struct download *d, unsigned si, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A source failed (unreachable, stalled, closed): back off. */
static void
dsrc_fail(struct download *d, unsigned si, const char *fmt, ...)
{
	struct dsrc *s = &d->src[si];
	uint64_t delay = d->dl->opts.retry_min_ms;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	if (s->state == DSRC_GONE || s->state == DSRC_BANNED)
		return;
	for (unsigned i = 0;
	     i < s->failures && delay < d->dl->opts.retry_max_ms; i++)
		delay *= 2;
	if (delay > d->dl->opts.retry_max_ms)
		delay = d->dl->opts.retry_max_ms;
	s->failures++;
	s->state = DSRC_BACKOFF;
	s->retry_at = download_now(d) + delay;
	log_info("download %s: source %s: %s (retry in %llu ms)", d->md5,
	    s->src.label, s->error, (unsigned long long)delay);
}

static void
dsrc_drop(struct download *d, unsigned si, enum download_source_state st,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The source does not have the file, or sent bad data: never again. */
static void
dsrc_drop(struct download *d, unsigned si, enum download_source_state st,
    const char *fmt, ...)
{
	struct dsrc *s = &d->src[si];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	s->state = st;
	if (st == DSRC_BANNED)
		log_warn("download %s: source %s banned: %s", d->md5,
		    s->src.label, s->error);
	else
		log_info("download %s: source %s: %s", d->md5, s->src.label,
		    s->error);
}

/* Usable now for a new request? */
static int
dsrc_ready(struct download *d, struct dsrc *s)
{
	if (s->state == DSRC_BACKOFF && download_now(d) >= s->retry_at)
		s->state = s->inflight ? DSRC_ACTIVE : DSRC_IDLE;
	return s->state == DSRC_IDLE || s->state == DSRC_ACTIVE;
}

int
download_add_source(struct download *d, const struct download_source *src)
{
	struct dsrc *s;

	for (unsigned i = 0; i < d->nsrc; i++) {
		if (strcmp(d->src[i].src.label, src->label) == 0) {
			/* Found again, maybe through another overlay. */
			download_source_via_merge(&d->src[i].src, src->via);
			return 0;
		}
	}
	if (d->nsrc == DOWNLOAD_MAX_SOURCES)
		return WARREN_ELIMIT;
	if (d->nsrc == d->srccap) {
		d->srccap = d->srccap ? d->srccap * 2 : 4;
		d->src = xreallocarray(d->src, d->srccap, sizeof(*d->src));
	}
	s = &d->src[d->nsrc++];
	memset(s, 0, sizeof(*s));
	s->src = *src;
	s->ext = -1;
	s->state = DSRC_IDLE;
	if (d->dl->opts.state != NULL && d->row > 0) {
		char addrs[DIAL_MAX_ADDRS * (ADDR_STRLEN + 1)] = "";
		size_t off = 0;

		for (unsigned i = 0; i < src->naddrs; i++) {
			char a[ADDR_STRLEN];

			addr_format((const struct sockaddr *)&src->addrs[i], a,
			    sizeof(a));
			off += (size_t)snprintf(addrs + off,
			    sizeof(addrs) - off, "%s%s", i > 0 ? " " : "", a);
		}
		dlstate_add_source(
		    d->dl->opts.state, d->row, src->label, addrs);
	}
	if (d->state == DOWNLOAD_WAITING || d->state == DOWNLOAD_RECEIVING)
		download_schedule(d);
	return 0;
}

/* ---- requests ------------------------------------------------------------------ */

static void
dreq_free(struct dreq *r)
{
	struct download *d = r->d;
	struct dreq **pp;

	for (pp = &d->reqs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	free(r->buf);
	free(r->hashes);
	free(r);
	download_maybe_free(d);
}

/*
 * End a request: undo its claim on parts and on the source. Called once,
 * when the request's outcome is known; the connection may still close
 * later (dreq_conn_closed frees r).
 */
static void
dreq_end(struct dreq *r)
{
	struct download *d = r->d;
	struct dsrc *s = &d->src[r->si];

	if (r->finished)
		return;
	r->finished = 1;
	r->throttled = 0;
	if (s->inflight > 0)
		s->inflight--;
	if (s->state == DSRC_ACTIVE && s->inflight == 0)
		s->state = DSRC_IDLE;
	if (r->kind == DREQ_HASH)
		s->probing = 0;
	if (r->kind == DREQ_RETP && d->pstate != NULL &&
	    d->pstate[r->part] == PART_INFLIGHT) {
		d->pstate[r->part] = PART_MISSING;
		d->parts_inflight--;
	}
	if (r->kind == DREQ_RETR && r->claimed) {
		d->pstate[r->part] = PART_MISSING;
		d->parts_inflight--;
		r->claimed = 0;
	}
}

static void
dreq_conn_closed(struct conn *c, int err)
{
	struct dreq *r = c->owner;
	struct download *d = r->d;
	struct dsrc *s = &d->src[r->si];

	r->c = NULL;
	if (!r->finished) {
		if (r->in_sentence) {
			/* The peer wrote a sentence and closed. */
			int kind = course_sentence_classify(
			    r->sentence, r->slen);

			dreq_end(r);
			if (kind == WARREN_ENOTFOUND)
				dsrc_drop(d, r->si, DSRC_GONE,
				    "does not have the file (it said: \"%s\")",
				    r->sentence);
			else if (r->kind == DREQ_HASH)
				s->ext = 0; /* no extensions: RETR only */
			else
				dsrc_fail(
				    d, r->si, "refused: \"%s\"", r->sentence);
		} else if (r->kind == DREQ_HASH && c->rx_bytes == 0 &&
		    err != UV_ETIMEDOUT) {
			/* Existing peers close on kinds they do not know. */
			dreq_end(r);
			s->ext = 0;
		} else {
			dreq_end(r);
			if (err == UV_ETIMEDOUT)
				dsrc_fail(d, r->si,
				    "stalled: no data for %llu s",
				    (unsigned long long)d->dl->opts.idle_ms /
					1000);
			else if (c->rx_bytes == 0)
				dsrc_fail(d, r->si,
				    "closed the connection without answering");
			else
				dsrc_fail(d, r->si,
				    "closed the connection early, after %llu "
				    "bytes",
				    (unsigned long long)r->received);
			if (r->kind == DREQ_RETR && !d->layout)
				d->stream_off = UINT64_MAX; /* restart */
		}
		download_schedule(d);
	}
	if (r->pending_jobs == 0)
		dreq_free(r);
}

static void
dreq_sentence(struct dreq *r, struct conn *c)
{
	for (size_t i = 0; i < c->rlen && r->slen < DL_SENTENCE_MAX; i++) {
		uint8_t ch = c->rbuf[i];

		r->sentence[r->slen++] = ch >= 0x20 && ch < 0x7f ? (char)ch
								 : '?';
	}
	r->sentence[r->slen] = '\0';
	conn_consume(c, c->rlen);
	if (r->slen == DL_SENTENCE_MAX)
		conn_close(c, 0);
}

/* Account received bytes against the global rate; pause if over. */
static void
dreq_account(struct dreq *r, size_t n)
{
	struct download *d = r->d;
	struct downloader *dl = d->dl;

	d->fetched += n;
	d->src[r->si].fetched += n;
	r->received += n;
	if (r->t_first == 0)
		r->t_first = download_now(d);
	if (ratelimit_take(&dl->limit, uv_now(dl->loop), n) > 0 &&
	    r->c != NULL) {
		conn_pause(r->c);
		r->throttled = 1;
	}
}

static void
dreq_measure(struct dreq *r, size_t bytes)
{
	struct dsrc *s = &r->d->src[r->si];
	uint64_t now = download_now(r->d);
	double secs = (double)(now - r->t_conn) / 1000.0;
	double inst;

	if (r->t_first >= r->t_conn)
		s->rtt_ms = r->t_first - r->t_conn;
	if (secs < 0.001)
		secs = 0.001;
	inst = (double)bytes / secs;
	s->rate = s->rate == 0 ? inst : 0.7 * s->rate + 0.3 * inst;
}

static void
download_adopt(struct download *d, struct dreq *r)
{
	d->layout = 1;
	d->size = r->ahas.lenfile;
	d->size_known = 1;
	d->lenpart = r->ahas.lenpart;
	d->nparts = r->ahas.nparts;
	free(d->hashes);
	d->hashes = r->hashes;
	r->hashes = NULL;
	d->pstate = xcalloc(d->nparts ? d->nparts : 1, 1);
	d->bitmap = xcalloc((d->nparts + 7) / 8 + 1, 1);
	d->ahas_src = r->si;
	if (d->dl->opts.state != NULL && d->row > 0)
		dlstate_set_layout(d->dl->opts.state, d->row, d->size,
		    d->lenpart, d->nparts, d->hashes);
	log_debug("download %s: adopted part list from %s: %llu bytes, %u "
		  "parts",
	    d->md5, d->src[r->si].src.label, (unsigned long long)d->size,
	    d->nparts);
}

static void
dreq_got_ahas(struct dreq *r)
{
	struct download *d = r->d;
	struct dsrc *s = &d->src[r->si];

	dreq_end(r);
	if (!d->layout) {
		download_adopt(d, r);
		s->ext = 1;
	} else if (r->ahas.lenfile == d->size &&
	    r->ahas.lenpart == d->lenpart && r->ahas.nparts == d->nparts &&
	    memcmp(r->hashes, d->hashes, (size_t)d->nparts * 20) == 0) {
		s->ext = 1;
	} else {
		s->ext = 0; /* another layout: whole-file RETR only */
	}
	conn_close(r->c, 0);
	download_schedule(d);
}

/* A complete part buffer: check and write it on the thread pool. */
static void
download_part_ready(
    struct download *d, struct dreq *r, uint32_t part, uint8_t *buf, size_t len)
{
	struct djob *j = job_new(d, DJOB_PART);

	d->pstate[part] = PART_WRITING;
	j->part = part;
	j->buf = buf;
	j->len = len;
	j->off = download_part_off(d, part);
	j->si = r->si;
	if (r->kind == DREQ_RETR) {
		j->req = r;
		r->pending_jobs++;
	}
	/* The next part of the MD5 (parts mostly arrive in order): hash it
	 * from this buffer rather than read it back later. */
	if (!d->md5_running && part == d->md5_next) {
		j->feed_md5 = 1;
		d->md5_running = 1;
	}
	job_start(j);
}

/*
 * Parse chunked data into r->buf until it is full or the input runs out.
 * Input is capped at the room left plus one header, so at most a few data
 * bytes overflow; they are carried into the next buffer. Returns 1 if
 * data was added (or the reply completed), 0 if nothing could be done,
 * -1 if the request ended.
 */
static int
dreq_feed_chunks(struct dreq *r, struct conn *c)
{
	struct download *d = r->d;
	int progress = 0;

	if (r->carry_len > 0) {
		size_t k = r->carry_len < r->bcap - r->blen ? r->carry_len
							    : r->bcap - r->blen;

		memcpy(r->buf + r->blen, r->carry, k);
		r->blen += k;
		memmove(r->carry, r->carry + k, r->carry_len - k);
		r->carry_len -= k;
		progress = k > 0;
	}
	while (c->rlen > 0 && !r->finished && r->blen < r->bcap &&
	    !course_chunks_done(&r->chunks)) {
		const uint8_t *data;
		size_t dlen = 0, room = r->bcap - r->blen, take;
		size_t in = c->rlen < room + COURSE_CHUNKS_HEAD_LEN
		    ? c->rlen
		    : room + COURSE_CHUNKS_HEAD_LEN;
		int n = course_chunks_feed(
		    &r->chunks, c->rbuf, in, &data, &dlen);

		if (n == WARREN_EREFUSED) {
			r->in_sentence = 1;
			conn_set_timeout(c, 1000);
			dreq_sentence(r, c);
			return 0;
		}
		if (n < 0) {
			dreq_end(r);
			dsrc_fail(d, r->si, "sent a malformed reply (%s)",
			    warren_strerror(n));
			conn_close(c, n);
			return -1;
		}
		if (n == 0)
			break; /* need more from the network */
		take = dlen < room ? dlen : room;
		memcpy(r->buf + r->blen, data, take);
		r->blen += take;
		memcpy(r->carry + r->carry_len, data + take, dlen - take);
		r->carry_len += dlen - take;
		conn_consume(c, (size_t)n);
		dreq_account(r, dlen);
		progress = 1;
	}
	return progress;
}

static void
dreq_read_retp(struct dreq *r, struct conn *c)
{
	struct download *d = r->d;
	size_t want = download_part_len(d, r->part);
	uint8_t *buf;

	if (dreq_feed_chunks(r, c) < 0 || r->finished)
		return;
	if (r->carry_len > 0 ||
	    (r->blen == r->bcap && c->rlen > 0 &&
		!course_chunks_done(&r->chunks))) {
		dreq_end(r);
		dsrc_drop(d, r->si, DSRC_BANNED,
		    "sent more data than part %u holds", r->part);
		conn_close(c, WARREN_EPROTO);
		download_schedule(d);
		return;
	}
	if (!course_chunks_done(&r->chunks))
		return;
	if (r->blen != want) {
		dreq_end(r);
		dsrc_drop(d, r->si, DSRC_BANNED,
		    "sent %zu bytes for part %u of %zu", r->blen, r->part,
		    want);
		conn_close(c, WARREN_EPROTO);
		download_schedule(d);
		return;
	}
	dreq_measure(r, r->blen);
	buf = r->buf;
	r->buf = NULL;
	/* The part now belongs to its write job (PART_WRITING); it still
	 * counts as in flight until written. */
	download_part_ready(d, r, r->part, buf, r->blen);
	dreq_end(r);
	conn_close(c, 0);
	download_schedule(d);
}

/* RETR with a part list: cut the stream into parts, check each. */
static void
dreq_read_retr_parts(struct dreq *r, struct conn *c)
{
	struct download *d = r->d;

	for (;;) {
		size_t want;

		if (r->finished || r->pending_jobs >= DL_RETR_PENDING)
			break;
		if (r->part >= d->nparts) {
			break;
		}
		want = download_part_len(d, r->part);
		r->bcap = want;
		if (r->buf == NULL) {
			r->buf = xmalloc(d->lenpart);
			r->blen = 0;
			/* Claim the part unless another request has it
			 * or it is done: then its bytes are skipped. */
			if (d->pstate[r->part] == PART_MISSING) {
				d->pstate[r->part] = PART_INFLIGHT;
				d->parts_inflight++;
				r->claimed = 1;
			}
		}
		if (dreq_feed_chunks(r, c) < 0 || r->finished)
			return;
		if (r->blen < want) {
			if (course_chunks_done(&r->chunks)) {
				/* The reply ended before the file did. */
				dreq_end(r);
				dsrc_drop(d, r->si, DSRC_BANNED,
				    "sent %llu bytes of a %llu-byte file",
				    (unsigned long long)(download_part_off(
							     d, r->part) +
					r->blen),
				    (unsigned long long)d->size);
				conn_close(c, WARREN_EPROTO);
				download_schedule(d);
				return;
			}
			break; /* need more */
		}
		/* A full part: write it if this request claimed it. */
		if (r->claimed) {
			r->claimed = 0;
			download_part_ready(d, r, r->part, r->buf, r->blen);
		} else {
			free(r->buf);
		}
		r->buf = NULL;
		r->part++;
		if (r->part == d->nparts) {
			dreq_measure(r, r->received);
			dreq_end(r);
			conn_close(c, 0);
			download_schedule(d);
			return;
		}
	}
	if (r->c != NULL && !r->finished) {
		if (r->pending_jobs >= DL_RETR_PENDING)
			conn_pause(c);
		else if (!r->throttled)
			conn_resume(c);
	}
}

/* RETR without a part list: stream into the file, MD5 on the way. */
static void
dreq_read_retr_stream(struct dreq *r, struct conn *c)
{
	struct download *d = r->d;

	for (;;) {
		if (r->finished)
			return;
		if (r->buf == NULL) {
			if (r->pending_jobs > 0)
				break; /* one stream job at a time: order */
			r->buf = xmalloc(DL_STREAM_LEN);
			r->bcap = DL_STREAM_LEN;
			r->blen = 0;
		}
		if (dreq_feed_chunks(r, c) < 0 || r->finished)
			return;
		if (r->blen == r->bcap ||
		    (course_chunks_done(&r->chunks) && r->carry_len == 0)) {
			struct djob *j = job_new(d, DJOB_STREAM);

			j->buf = r->buf;
			j->len = r->blen;
			j->off = d->stream_off;
			j->req = r;
			j->si = r->si;
			d->stream_off += r->blen;
			r->buf = NULL;
			r->pending_jobs++;
			job_start(j);
			if (course_chunks_done(&r->chunks) &&
			    r->carry_len == 0) {
				d->size = d->stream_off;
				d->size_known = 1;
				dreq_measure(r, r->received);
				dreq_end(r);
				conn_close(c, 0);
				return;
			}
			continue;
		}
		break; /* need more from the network */
	}
	if (r->c != NULL && !r->finished) {
		if (r->buf == NULL && r->pending_jobs > 0)
			conn_pause(c);
		else if (!r->throttled)
			conn_resume(c);
	}
}

static void
dreq_read(struct conn *c)
{
	struct dreq *r = c->owner;
	struct download *d = r->d;

	if (r->finished)
		return;
	if (r->in_sentence) {
		dreq_sentence(r, c);
		return;
	}
	switch (r->kind) {
	case DREQ_HASH:
		while (c->rlen > 0 && !r->finished) {
			uint8_t sha1[20];
			uint32_t idx;
			int n = course_ahas_next(
			    &r->ahas, c->rbuf, c->rlen, sha1, &idx);

			if (n == WARREN_EREFUSED) {
				r->in_sentence = 1;
				conn_set_timeout(c, 1000);
				dreq_sentence(r, c);
				return;
			}
			if (n < 0) {
				dreq_end(r);
				d->src[r->si].ext = 0;
				snprintf(d->src[r->si].error,
				    sizeof(d->src[r->si].error),
				    "sent an unusable part list (%s)",
				    warren_strerror(n));
				conn_close(c, n);
				download_schedule(d);
				return;
			}
			if (n == 0)
				return;
			conn_consume(c, (size_t)n);
			if (idx == UINT32_MAX)
				r->hashes = xmalloc(
				    (size_t)r->ahas.nparts * 20 + 1);
			else
				memcpy(r->hashes + (size_t)idx * 20, sha1, 20);
			if (course_ahas_done(&r->ahas)) {
				dreq_got_ahas(r);
				return;
			}
		}
		return;
	case DREQ_RETP:
		dreq_read_retp(r, c);
		return;
	case DREQ_RETR:
		if (d->layout)
			dreq_read_retr_parts(r, c);
		else
			dreq_read_retr_stream(r, c);
		return;
	}
}

static void
dreq_dialed(void *arg, struct conn *c, int status)
{
	struct dreq *r = arg;
	struct download *d = r->d;
	struct course_msg m;
	uint8_t req[64];
	int n;

	r->dial = NULL;
	if (r->finished) {
		if (c != NULL)
			conn_close(c, 0);
		dreq_free(r);
		return;
	}
	if (status != 0) {
		dreq_end(r);
		dsrc_fail(d, r->si, "cannot reach %s: %s",
		    d->src[r->si].src.label, uv_strerror(status));
		download_schedule(d);
		dreq_free(r);
		return;
	}
	r->c = c;
	r->t_conn = download_now(d);
	memset(&m, 0, sizeof(m));
	memcpy(m.md5, d->md5, sizeof(m.md5));
	switch (r->kind) {
	case DREQ_HASH:
		m.kind = COURSE_HASH;
		course_ahas_init(&r->ahas, COURSE_NPART_MAX);
		break;
	case DREQ_RETP:
		m.kind = COURSE_RETP;
		m.partnum = r->part;
		course_chunks_init(&r->chunks, COURSE_AREP);
		break;
	case DREQ_RETR:
		m.kind = COURSE_RETR;
		course_chunks_init(&r->chunks, COURSE_ARET);
		break;
	}
	n = course_encode(&m, req, sizeof(req));
	if (n <= 0 ||
	    conn_start(
		c, dreq_read, dreq_conn_closed, r, d->dl->opts.idle_ms) != 0 ||
	    conn_write_copy(c, req, (size_t)n) != 0) {
		c->owner = r;
		c->on_close = dreq_conn_closed;
		conn_close(c, WARREN_ECLOSED);
	}
}

static struct dreq *
dreq_start(struct download *d, unsigned si, enum dreq_kind kind, uint32_t part)
{
	struct dreq *r = xcalloc(1, sizeof(*r));
	struct dsrc *s = &d->src[si];

	r->d = d;
	r->si = si;
	r->kind = kind;
	r->part = part;
	if (kind == DREQ_RETP) {
		r->bcap = download_part_len(d, part);
		r->buf = xmalloc(r->bcap ? r->bcap : 1);
		d->pstate[part] = PART_INFLIGHT;
		d->parts_inflight++;
	}
	if (kind == DREQ_HASH)
		s->probing = 1;
	s->inflight++;
	s->state = DSRC_ACTIVE;
	r->next = d->reqs;
	d->reqs = r;
	r->dial = dial_start(d->dl->loop, s->src.addrs, s->src.naddrs,
	    &d->dl->opts.dial, dreq_dialed, r);
	return r;
}

/* ---- scheduling ------------------------------------------------------------------ */

static int
download_next_missing(struct download *d, uint32_t *out)
{
	for (uint32_t p = 0; p < d->nparts; p++) {
		if (d->pstate[p] == PART_MISSING) {
			*out = p;
			return 1;
		}
	}
	return 0;
}

/*
 * The RETP source for the next part: among sources with room, the one with
 * the fewest requests in flight; then one not measured yet (to learn its
 * speed); then the fastest.
 */
static int
download_pick_source(struct download *d, unsigned *out)
{
	struct dsrc *best = NULL;

	for (unsigned i = 0; i < d->nsrc; i++) {
		struct dsrc *s = &d->src[i];

		if (s->ext != 1 || !dsrc_ready(d, s) ||
		    s->inflight >= d->dl->opts.per_source)
			continue;
		if (best == NULL || s->inflight < best->inflight ||
		    (s->inflight == best->inflight &&
			((s->rate == 0 && best->rate != 0) ||
			    (best->rate != 0 && s->rate > best->rate)))) {
			best = s;
			*out = i;
		}
	}
	return best != NULL;
}

static void
download_start_md5(struct download *d)
{
	struct djob *j;
	uint32_t end = d->md5_next;

	if (d->md5_running || !d->layout)
		return;
	while (end < d->nparts && d->pstate[end] == PART_DONE &&
	    end - d->md5_next < DL_MD5_READ / d->lenpart + 1)
		end++;
	if (end == d->md5_next)
		return;
	j = job_new(d, DJOB_MD5);
	j->part = d->md5_next;
	j->part_end = end;
	j->buf = xmalloc(d->lenpart);
	d->md5_running = 1;
	job_start(j);
}

static void
download_verify_whole(struct download *d)
{
	download_set_state(d, DOWNLOAD_VERIFYING);
	download_stop_requests(d);
	job_start(job_new(d, DJOB_FINALIZE));
}

static void
download_schedule(struct download *d)
{
	uint64_t now = download_now(d), wake = UINT64_MAX;
	unsigned usable = 0, unknown = 0, retp_ok = 0, retr_ok = 0;
	int retr_busy = 0, live = 0;
	uint32_t part;
	unsigned si;

	if (d->stopping ||
	    (d->state != DOWNLOAD_RECEIVING && d->state != DOWNLOAD_WAITING))
		return;
	if (d->layout) {
		download_start_md5(d);
		if (d->parts_done == d->nparts) {
			if (d->md5_next == d->nparts && !d->md5_running)
				download_verify_whole(d);
			return;
		}
	} else if (d->size_known && d->stream_off == d->size) {
		/* RETR stream complete: the finalize follows its last job. */
		return;
	}
	/* Probe sources whose extensions are unknown. */
	for (si = 0; si < d->nsrc; si++) {
		struct dsrc *s = &d->src[si];

		if (s->ext == -1 && !s->probing && dsrc_ready(d, s))
			dreq_start(d, si, DREQ_HASH, 0);
	}
	/* Parts from RETP sources. */
	while (d->layout && d->parts_inflight < d->dl->opts.max_parts &&
	    download_next_missing(d, &part) && download_pick_source(d, &si))
		dreq_start(d, si, DREQ_RETP, part);

	for (si = 0; si < d->nsrc; si++) {
		struct dsrc *s = &d->src[si];

		if (s->state == DSRC_GONE || s->state == DSRC_BANNED)
			continue;
		if (s->state == DSRC_BACKOFF && now < s->retry_at) {
			if (s->retry_at < wake)
				wake = s->retry_at;
			continue;
		}
		usable++;
		if (s->ext == -1)
			unknown++;
		else if (s->ext == 1)
			retp_ok++;
		else
			retr_ok++;
	}
	for (struct dreq *r = d->reqs; r != NULL; r = r->next) {
		if (r->finished)
			continue;
		live = 1;
		if (r->kind == DREQ_RETR)
			retr_busy = 1;
	}

	/* Whole-file RETR when no RETP source is usable and no probe is
	 * pending, from a source without extensions. */
	if (!retr_busy && unknown == 0 && retp_ok == 0 && retr_ok > 0) {
		for (si = 0; si < d->nsrc; si++)
			if (d->src[si].ext == 0 && dsrc_ready(d, &d->src[si]) &&
			    d->src[si].inflight == 0)
				break;
		if (si < d->nsrc && !d->layout && d->stream_off != 0) {
			/* Restart a broken stream from zero, once every
			 * write of the old one is done. */
			if (d->jobs == 0) {
				struct djob *j = job_new(d, DJOB_TRUNCATE);

				d->stream_off = 0;
				job_start(j);
			}
			return;
		}
		if (si < d->nsrc) {
			dreq_start(d, si, DREQ_RETR, 0);
			live = 1;
		}
	}

	if (live) {
		download_set_state(d, DOWNLOAD_RECEIVING);
		return;
	}
	if (d->jobs > 0)
		return; /* their completion reschedules */
	if (usable == 0 && wake == UINT64_MAX) {
		/* Every source is gone or banned. */
		const char *why = d->nsrc ? d->src[d->nsrc - 1].error : "";

		for (si = 0; si < d->nsrc; si++)
			if (d->src[si].state == DSRC_GONE)
				why = d->src[si].error;
		download_fail(d, WARREN_ENOTFOUND,
		    "no source can provide %s%s%s", d->md5, why[0] ? ": " : "",
		    why);
		return;
	}
	if (usable == 0 || (retp_ok == 0 && retr_ok == 0 && unknown == 0)) {
		d->retry_at = wake;
		for (si = 0; si < d->nsrc; si++)
			if (d->src[si].state == DSRC_BACKOFF)
				snprintf(d->message, sizeof(d->message),
				    "%s: %s", d->src[si].src.label,
				    d->src[si].error);
		download_set_state(d, DOWNLOAD_WAITING);
		return;
	}
	download_set_state(d, DOWNLOAD_RECEIVING);
}

/* ---- job completion ------------------------------------------------------------------ */

static void
job_done_part(struct download *d, struct djob *j)
{
	struct dsrc *s = &d->src[j->si];

	if (j->req != NULL && --j->req->pending_jobs == 0 &&
	    j->req->c == NULL && j->req->finished) {
		dreq_free(j->req);
		j->req = NULL;
	}
	if (j->feed_md5) {
		d->md5_running = 0;
		if (j->ok && j->err == 0)
			d->md5_next = j->part + 1;
	}
	if (d->pstate == NULL || download_over(d) || d->stopping)
		return;
	d->parts_inflight--;
	if (j->err != 0) {
		download_fail(d, j->err, "cannot write %s: %s", d->part_path,
		    uv_strerror(j->err));
		return;
	}
	if (!j->ok) {
		d->pstate[j->part] = PART_MISSING;
		s->bad_parts++;
		if (s->state != DSRC_BANNED)
			dsrc_drop(d, j->si, DSRC_BANNED,
			    "sent part %u with a wrong SHA-1", j->part);
		/* Stop whatever else it is sending us. */
		for (struct dreq *r = d->reqs; r != NULL; r = r->next)
			if (r->si == j->si && !r->finished)
				dreq_close(r);
	} else if (d->pstate[j->part] != PART_DONE) {
		d->pstate[j->part] = PART_DONE;
		d->bitmap[j->part / 8] |= (uint8_t)(1u << (j->part % 8));
		d->parts_done++;
		s->good_parts++;
		s->failures = 0;
		if (d->dl->opts.state != NULL && d->row > 0)
			dlstate_progress(d->dl->opts.state, d->row, d->bitmap,
			    (d->nparts + 7) / 8,
			    d->fetched_before + d->fetched);
	}
	download_schedule(d);
}

static void
job_done_stream(struct download *d, struct djob *j)
{
	struct dreq *r = j->req;

	r->pending_jobs--;
	if (j->err != 0 && !download_over(d)) {
		download_fail(d, j->err, "cannot write %s: %s", d->part_path,
		    uv_strerror(j->err));
	} else if (!download_over(d) && !d->stopping) {
		if (d->size_known && j->off + j->len == d->size)
			download_verify_whole(d);
		else if (r->c != NULL)
			dreq_read(r->c); /* bytes held while we wrote */
	}
	if (r->pending_jobs == 0 && r->c == NULL && r->finished &&
	    r->dial == NULL)
		dreq_free(r);
}

static void
job_done(uv_work_t *w, int status)
{
	struct djob *j = w->data;
	struct download *d = j->d;

	if (status != 0 && j->err == 0)
		j->err = status;
	d->jobs--;
	switch (j->kind) {
	case DJOB_CREATE:
		if (d->stopping || download_over(d))
			break;
		if (j->err != 0) {
			download_fail(d, j->err, "cannot create %s/%s.part: %s",
			    d->dir, d->name, uv_strerror(j->err));
			break;
		}
		hash_init(&d->md5ctx, HASH_MD5);
		if (d->dl->opts.state != NULL && d->row > 0)
			dlstate_set_part_path(
			    d->dl->opts.state, d->row, d->part_path);
		download_set_state(d,
		    d->state == DOWNLOAD_PAUSED ? DOWNLOAD_PAUSED
						: DOWNLOAD_RECEIVING);
		download_schedule(d);
		break;
	case DJOB_PART:
		job_done_part(d, j);
		break;
	case DJOB_STREAM:
		job_done_stream(d, j);
		break;
	case DJOB_MD5:
		d->md5_running = 0;
		if (d->stopping || download_over(d))
			break;
		if (j->err != 0) {
			download_fail(d, j->err, "cannot read back %s: %s",
			    d->part_path, uv_strerror(j->err));
			break;
		}
		d->md5_next = j->part_end;
		download_schedule(d);
		break;
	case DJOB_CHECK:
		d->checking = 0;
		if (d->stopping || download_over(d))
			break;
		for (uint32_t p = 0; p < d->nparts; p++) {
			if (j->bitmap[p / 8] & (1u << (p % 8))) {
				d->pstate[p] = PART_DONE;
				d->parts_done++;
			}
		}
		memcpy(d->bitmap, j->bitmap, (d->nparts + 7) / 8);
		log_info("download %s resumed: %u of %u parts verified on disk",
		    d->md5, d->parts_done, d->nparts);
		download_set_state(d,
		    d->state == DOWNLOAD_PAUSED ? DOWNLOAD_PAUSED
						: DOWNLOAD_RECEIVING);
		download_schedule(d);
		break;
	case DJOB_FINALIZE:
		if (d->stopping || download_over(d))
			break;
		if (j->err != 0) {
			download_fail(d, j->err, "cannot save %s: %s", d->name,
			    uv_strerror(j->err));
		} else if (!j->ok) {
			const char *who = d->layout
			    ? d->src[d->ahas_src].src.label
			    : "the source";

			for (unsigned i = 0; i < d->nsrc; i++)
				if (d->src[i].fetched > 0 &&
				    (!d->layout || i == d->ahas_src))
					d->src[i].state = DSRC_BANNED;
			download_fail(d, WARREN_EMD5,
			    "MD5 mismatch: the data (part list from %s) is "
			    "not %s; kept aside, not renamed",
			    who, d->md5);
		} else {
			close(d->fd);
			d->fd = -1;
			download_set_state(d, DOWNLOAD_DONE);
			download_store_state(d, "done");
			log_info(
			    "downloaded %s (%llu bytes, MD5 verified) to %s",
			    d->md5, (unsigned long long)d->size, d->final_path);
			download_finish(d);
		}
		break;
	case DJOB_DISCARD:
		download_finish(d);
		break;
	case DJOB_TRUNCATE:
		if (j->err != 0 && !download_over(d))
			download_fail(d, j->err, "cannot truncate %s: %s",
			    d->part_path, uv_strerror(j->err));
		else if (!d->stopping)
			download_schedule(d);
		break;
	}
	free(j->buf);
	free(j->bitmap);
	free(j);
	if (d->discard_wanted && d->jobs == 0) {
		d->discard_wanted = 0;
		j = job_new(d, DJOB_DISCARD);
		j->ok = d->discard_keep;
		job_start(j);
	}
	download_maybe_free(d);
}

/* ---- manager ------------------------------------------------------------------ */

static void
download_free_now(struct download *d)
{
	struct downloader *dl = d->dl;
	struct download **pp;

	for (pp = &dl->list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	if (d->fd >= 0)
		close(d->fd);
	if (d->md5ctx.ctx != NULL)
		hash_release(&d->md5ctx);
	free(d->name);
	free(d->dir);
	free(d->part_path);
	free(d->final_path);
	free(d->src);
	free(d->hashes);
	free(d->pstate);
	free(d->bitmap);
	uv_mutex_destroy(&d->wlock);
	free(d);
	if (dl->dead && dl->list == NULL && !dl->timer_open)
		free(dl);
}

static void
download_maybe_free(struct download *d)
{
	if (d->jobs > 0 || d->reqs != NULL)
		return;
	if (d->stopping) {
		download_free_now(d);
		return;
	}
	/* Keep a bounded number of finished downloads for status. */
	if (d->finished) {
		unsigned n = 0;
		struct download *x, *oldest = NULL;

		for (x = d->dl->list; x != NULL; x = x->next) {
			if (x->finished && x->jobs == 0 && x->reqs == NULL) {
				n++;
				oldest = x; /* list is newest first */
			}
		}
		if (n > DL_KEEP_FINISHED && oldest != NULL)
			download_free_now(oldest);
	}
}

static void
downloader_tick(uv_timer_t *t)
{
	struct downloader *dl = t->data;
	uint64_t now = uv_now(dl->loop);
	int throttle = ratelimit_delay(&dl->limit, now) > 0;

	for (struct download *d = dl->list; d != NULL; d = d->next) {
		uint64_t bytes = d->fetched;
		double dt = (double)(now - d->rate_ms) / 1000.0;

		if (!throttle) {
			for (struct dreq *r = d->reqs; r != NULL; r = r->next) {
				if (r->throttled && r->c != NULL) {
					r->throttled = 0;
					conn_resume(r->c);
					dreq_read(r->c);
				}
			}
		}
		if (d->finished)
			continue;
		if (dt >= (double)dl->opts.progress_ms / 1000.0) {
			double inst = (double)(bytes - d->rate_bytes) / dt;

			d->rate = d->rate == 0 ? inst
					       : 0.5 * d->rate + 0.5 * inst;
			d->rate_bytes = bytes;
			d->rate_ms = now;
			if (d->state == DOWNLOAD_RECEIVING ||
			    d->state == DOWNLOAD_WAITING)
				download_emit(d, DOWNLOAD_EV_PROGRESS);
		}
		if (d->state == DOWNLOAD_WAITING && now >= d->retry_at)
			download_schedule(d);
		else if (d->state == DOWNLOAD_RECEIVING)
			download_schedule(d); /* sources back from backoff */
	}
}

struct downloader *
downloader_new(uv_loop_t *loop, const struct download_opts *opts)
{
	struct downloader *dl = xcalloc(1, sizeof(*dl));

	dl->loop = loop;
	dl->opts = *opts;
	if (dl->opts.idle_ms == 0)
		dl->opts.idle_ms = 30000;
	if (dl->opts.progress_ms == 0)
		dl->opts.progress_ms = 250;
	if (dl->opts.per_source == 0)
		dl->opts.per_source = 2;
	if (dl->opts.max_parts == 0)
		dl->opts.max_parts = 8;
	if (dl->opts.retry_min_ms == 0)
		dl->opts.retry_min_ms = 1000;
	if (dl->opts.retry_max_ms == 0)
		dl->opts.retry_max_ms = 60000;
	dl->opts.dial.rcap = DL_RCAP;
	if (opts->dial.bind4 != NULL) {
		memcpy(
		    &dl->bind4, opts->dial.bind4, sizeof(struct sockaddr_in));
		dl->opts.dial.bind4 = (struct sockaddr *)&dl->bind4;
	}
	if (opts->dial.bind6 != NULL) {
		memcpy(
		    &dl->bind6, opts->dial.bind6, sizeof(struct sockaddr_in6));
		dl->opts.dial.bind6 = (struct sockaddr *)&dl->bind6;
	}
	ratelimit_init(&dl->limit, dl->opts.rate, uv_now(loop));
	dl->next_id = 1;
	uv_timer_init(loop, &dl->tick);
	dl->timer_open = 1;
	dl->tick.data = dl;
	/* 50 ms: rate-limit wake-ups are this fine; progress is coarser. */
	uv_timer_start(&dl->tick, downloader_tick, 50, 50);
	uv_unref((uv_handle_t *)&dl->tick);
	return dl;
}

void
downloader_set_cb(struct downloader *dl, download_cb cb, void *arg)
{
	dl->cb = cb;
	dl->cb_arg = arg;
}

static struct download *
download_new(
    struct downloader *dl, const char *md5, const char *name, const char *dir)
{
	struct download *d = xcalloc(1, sizeof(*d));

	if (uv_mutex_init(&d->wlock) != 0)
		abort();
	d->dl = dl;
	d->id = dl->next_id++;
	d->row = -1;
	memcpy(d->md5, md5, COURSE_MD5_LEN + 1);
	d->name = xstrdup(name);
	d->dir = xstrdup(dir);
	d->fd = -1;
	d->rate_ms = uv_now(dl->loop);
	d->state = DOWNLOAD_CREATING;
	d->next = dl->list;
	dl->list = d;
	return d;
}

struct download *
downloader_find_md5(struct downloader *dl, const char *md5)
{
	for (struct download *d = dl->list; d != NULL; d = d->next)
		if (!download_over(d) && strcmp(d->md5, md5) == 0)
			return d;
	return NULL;
}

int
download_start(struct downloader *dl, const char *md5, const char *name,
    const char *dir, const struct download_source *sources, unsigned nsources,
    struct download **out)
{
	char clean[COURSE_NAME_LEN * 4 + 1];
	char lmd5[COURSE_MD5_LEN + 1];
	struct download *d;
	struct stat st;
	size_t nlen;
	int n;

	if (strlen(md5) != COURSE_MD5_LEN || course_md5_parse(md5, lmd5) != 0)
		return WARREN_EFIELD;
	if (nsources == 0)
		return WARREN_EEMPTY;
	if ((d = downloader_find_md5(dl, lmd5)) != NULL) {
		for (unsigned i = 0; i < nsources; i++)
			download_add_source(d, &sources[i]);
		*out = d;
		return 0;
	}
	if (dir[0] != '/' || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (name == NULL)
		name = "";
	nlen = strlen(name);
	n = course_name_sanitize(name,
	    nlen < COURSE_NAME_LEN * 4 ? nlen : COURSE_NAME_LEN * 4, lmd5,
	    clean, sizeof(clean));
	if (n < 0)
		return n;

	d = download_new(dl, lmd5, clean, dir);
	if (dl->opts.state != NULL)
		d->row = dlstate_create(dl->opts.state, lmd5, clean, dir);
	for (unsigned i = 0; i < nsources; i++)
		download_add_source(d, &sources[i]);
	*out = d;
	download_emit(d, DOWNLOAD_EV_STARTED);
	job_start(job_new(d, DJOB_CREATE));
	return 0;
}

/* Parse "ADDR:PORT ADDR:PORT" back into a source. */
static int
download_parse_source(
    const char *label, const char *addrs, struct download_source *out)
{
	char *copy = xstrdup(addrs), *tok, *save = NULL;

	memset(out, 0, sizeof(*out));
	snprintf(out->label, sizeof(out->label), "%s", label);
	for (tok = strtok_r(copy, " ", &save);
	     tok != NULL && out->naddrs < DIAL_MAX_ADDRS;
	     tok = strtok_r(NULL, " ", &save))
		if (addr_parse(tok, 0, &out->addrs[out->naddrs]) == 0)
			out->naddrs++;
	free(copy);
	return out->naddrs > 0 ? 0 : -1;
}

static void
downloader_restore_row(void *arg, const struct dlstate_row *row)
{
	struct downloader *dl = arg;
	struct download *d;
	struct djob *j;

	d = download_new(dl, row->md5, row->name, row->dir);
	d->row = row->id;
	d->fetched_before = row->fetched;
	for (unsigned i = 0; i < row->nsources; i++) {
		struct download_source s;

		if (download_parse_source(row->sources[i].label,
			row->sources[i].addrs, &s) == 0) {
			/* Already stored: add without storing again. */
			int64_t keep = d->row;

			d->row = -1;
			download_add_source(d, &s);
			d->row = keep;
		}
	}
	if (row->part_path != NULL && row->hashes != NULL && row->nparts > 0 &&
	    (d->fd = open(row->part_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) >=
		0) {
		d->part_path = xstrdup(row->part_path);
		d->layout = 1;
		d->size = (uint64_t)row->size;
		d->size_known = 1;
		d->lenpart = row->lenpart;
		d->nparts = row->nparts;
		d->hashes = xmalloc((size_t)d->nparts * 20);
		memcpy(d->hashes, row->hashes, (size_t)d->nparts * 20);
		d->pstate = xcalloc(d->nparts, 1);
		d->bitmap = xcalloc((d->nparts + 7) / 8 + 1, 1);
		hash_init(&d->md5ctx, HASH_MD5);
		for (unsigned i = 0; i < d->nsrc; i++)
			d->src[i].ext = -1;
		j = job_new(d, DJOB_CHECK);
		j->bitmap = xcalloc((d->nparts + 7) / 8 + 1, 1);
		if (row->done != NULL)
			memcpy(j->bitmap, row->done, (d->nparts + 7) / 8);
		j->buf = xmalloc(d->lenpart);
		d->state = strcmp(row->state, "paused") == 0
		    ? DOWNLOAD_PAUSED
		    : DOWNLOAD_CHECKING;
		/* Shown as checking, paused or not, until the parts on disk
		 * are verified: until then parts_done is not known. */
		d->checking = 1;
		job_start(j);
	} else {
		/* Nothing usable on disk: start over (a stale .part of a
		 * RETR-only download cannot be trusted). */
		if (row->part_path != NULL)
			unlink(row->part_path);
		d->state = strcmp(row->state, "paused") == 0
		    ? DOWNLOAD_PAUSED
		    : DOWNLOAD_CREATING;
		job_start(job_new(d, DJOB_CREATE));
	}
	log_info("resuming download %s (%s) with %u sources", d->md5, d->name,
	    d->nsrc);
	download_emit(d, DOWNLOAD_EV_STARTED);
}

unsigned
downloader_restore(struct downloader *dl)
{
	unsigned before = 0, after = 0;

	if (dl->opts.state == NULL)
		return 0;
	for (struct download *d = dl->list; d != NULL; d = d->next)
		before++;
	dlstate_load(dl->opts.state, downloader_restore_row, dl);
	for (struct download *d = dl->list; d != NULL; d = d->next)
		after++;
	return after - before;
}

int
download_pause(struct download *d)
{
	if (download_over(d))
		return WARREN_EPROTO;
	if (d->state == DOWNLOAD_PAUSED)
		return 0;
	download_stop_requests(d);
	download_store_state(d, "paused");
	download_set_state(d, DOWNLOAD_PAUSED);
	return 0;
}

int
download_resume(struct download *d)
{
	if (d->state != DOWNLOAD_PAUSED)
		return download_over(d) ? WARREN_EPROTO : 0;
	download_store_state(d, "active");
	for (unsigned i = 0; i < d->nsrc; i++) {
		if (d->src[i].state == DSRC_BACKOFF) {
			d->src[i].state = DSRC_IDLE;
			d->src[i].failures = 0;
		}
	}
	if (d->part_path == NULL) {
		d->state = DOWNLOAD_CREATING;
		job_start(job_new(d, DJOB_CREATE));
		return 0;
	}
	download_set_state(d, DOWNLOAD_RECEIVING);
	download_schedule(d);
	return 0;
}

int
download_cancel(struct download *d)
{
	if (download_over(d))
		return WARREN_EPROTO;
	download_fail(d, WARREN_ECANCELED, "canceled");
	return 0;
}

void
download_info(const struct download *d, struct download_info *out)
{
	memset(out, 0, sizeof(*out));
	out->id = d->id;
	out->md5 = d->md5;
	out->name = d->name;
	out->path = d->final_path ? d->final_path
	    : d->part_path        ? d->part_path
				  : "";
	out->state = d->checking && !download_over(d) ? DOWNLOAD_CHECKING
						      : d->state;
	out->size = d->size_known ? d->size : 0;
	out->size_known = d->size_known;
	if (d->layout) {
		uint64_t b = (uint64_t)d->parts_done * d->lenpart;

		if (d->nparts > 0 && d->pstate[d->nparts - 1] == PART_DONE)
			b -= d->lenpart - download_part_len(d, d->nparts - 1);
		out->bytes = b;
	} else {
		out->bytes = d->stream_off == UINT64_MAX ? 0 : d->stream_off;
	}
	if (d->state == DOWNLOAD_DONE)
		out->bytes = d->size;
	out->fetched = d->fetched_before + d->fetched;
	out->rate = d->rate;
	out->nparts = d->nparts;
	out->parts_done = d->parts_done;
	out->nsources = d->nsrc;
	for (unsigned i = 0; i < d->nsrc; i++)
		if (d->src[i].state == DSRC_ACTIVE)
			out->active_sources++;
	if (d->state == DOWNLOAD_WAITING && d->retry_at > uv_now(d->dl->loop))
		out->retry_in_ms = d->retry_at - uv_now(d->dl->loop);
	out->err = d->err;
	out->message = d->message;
}

void
download_source_info(
    const struct download *d, unsigned i, struct download_source_info *out)
{
	const struct dsrc *s = &d->src[i];
	uint64_t now = uv_now(d->dl->loop);

	memset(out, 0, sizeof(*out));
	out->label = s->src.label;
	out->state = s->state;
	out->ext = s->ext;
	out->inflight = s->inflight;
	out->fetched = s->fetched;
	out->good_parts = s->good_parts;
	out->bad_parts = s->bad_parts;
	out->rate = s->rate;
	out->rtt_ms = s->rtt_ms;
	if (s->state == DSRC_BACKOFF && s->retry_at > now)
		out->retry_in_ms = s->retry_at - now;
	out->error = s->error;
	out->via = s->src.via;
}

void
download_source_via_merge(struct download_source *dst, const char *via)
{
	const char *p = via;

	while (*p != '\0') {
		size_t len = strcspn(p, ","), have = strlen(dst->via);
		const char *q = dst->via;
		int found = 0;

		while (*q != '\0' && !found) {
			size_t l = strcspn(q, ",");

			found = l == len && memcmp(q, p, len) == 0;
			q += l + (q[l] == ',');
		}
		if (!found && len > 0 &&
		    have + (have > 0) + len < sizeof(dst->via)) {
			if (have > 0)
				dst->via[have++] = ',';
			memcpy(dst->via + have, p, len);
			dst->via[have + len] = '\0';
		}
		p += len + (p[len] == ',');
	}
}

uint64_t
download_id(const struct download *d)
{
	return d->id;
}

struct download *
download_find(struct downloader *dl, uint64_t id)
{
	for (struct download *d = dl->list; d != NULL; d = d->next)
		if (d->id == id)
			return d;
	return NULL;
}

void
downloader_foreach(
    struct downloader *dl, void (*fn)(void *arg, struct download *d), void *arg)
{
	for (struct download *d = dl->list; d != NULL; d = d->next)
		fn(arg, d);
}

static void
downloader_timer_closed(uv_handle_t *h)
{
	struct downloader *dl = h->data;

	dl->timer_open = 0;
	if (dl->list == NULL)
		free(dl);
}

void
downloader_free(struct downloader *dl)
{
	struct download *d, *next;

	if (dl == NULL)
		return;
	dl->dead = 1;
	uv_close((uv_handle_t *)&dl->tick, downloader_timer_closed);
	for (d = dl->list; d != NULL; d = next) {
		next = d->next;
		/* Keep the stored row: the download resumes next time. */
		d->stopping = 1;
		download_stop_requests(d);
		download_maybe_free(d);
	}
}
